"""``train --resume`` continues the same run or refuses (issue: a resume silently took changed settings and recorded
the wrong provenance); ``--max-steps`` stops a run part-way and a resume continues it at that very step; the sidecar
records the resolved values used. Tiny digits runs (8 steps per epoch) through the command, in this process."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from tests.cli_inprocess import run_cli

# 300 digits images, 60 of them for validation: 240 / 32 = 8 steps per epoch
BASE = ("--dataset", "digits", "--train-limit", "300", "--test-limit", "100", "--batch-size", "32")
MODEL = ("--backbone", "simple", "--options", "widths=4,8")


def _train(home: Path, *args: str):
    res = run_cli("train", *args, home=home)
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    return res


def _side(stem: Path) -> dict:
    return json.loads(stem.with_suffix(".json").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An uninterrupted 2-epoch run (data and model seed 1) and the same run stopped by --max-steps 3, in epoch 1."""
    root = tmp_path_factory.mktemp("resume")
    home = root / "home"
    full, stopped = root / "full", root / "stopped"
    res = _train(home, *MODEL, *BASE, "--epochs", "2", "--seed", "1", "--out", str(full))
    assert res.returncode == 0, res.stderr
    res_stopped = _train(home, *MODEL, *BASE, "--epochs", "2", "--seed", "1", "--max-steps", "3", "--out",
                         str(stopped))
    assert res_stopped.returncode == 0, res_stopped.stderr
    return {"root": root, "home": home, "full": full, "stopped": stopped, "full_out": res.stdout,
            "stopped_out": res_stopped.stdout}


def _copy_set(src: Path, dst: Path) -> Path:
    for suffix in (".safetensors", ".json", ".state.pt", ".manifest.json"):
        shutil.copy(str(src) + suffix, str(dst) + suffix)
    manifest = Path(str(dst) + ".manifest.json")
    man = json.loads(manifest.read_text())  # the manifest names its files: rename them with the copy
    man["files"] = {n.replace(src.name, dst.name, 1): d for n, d in man["files"].items()}
    manifest.write_text(json.dumps(man))
    return dst


# --- a changed setting is refused, before any work, naming both values ---------------------------------------
@pytest.mark.parametrize("args, lines", [
    (("--seed", "3"), ["data seed (--seed): the checkpoint's run used 1, this one asks for 3",
                       "model seed (--model-seed, else --seed): the checkpoint's run used 1, this one asks for 3"]),
    (("--lr", "0.5", "--train-limit", "500"),
     ["learning rate (--lr): the checkpoint's run used 0.05, this one asks for 0.5",
      "training subset (--train-limit): the checkpoint's run used 300, this one asks for 500"]),
    (("--model-seed", "5"), ["model seed (--model-seed, else --seed): the checkpoint's run used 1, this one asks "
                             "for 5"]),
    (("--batch-size", "16", "--weight-decay", "0.01", "--optimizer", "adamw"),
     ["batch size (--batch-size): the checkpoint's run used 32, this one asks for 16",
      "weight decay (--weight-decay): the checkpoint's run used 0.0005, this one asks for 0.01",
      "optimizer (--optimizer): the checkpoint's run used sgd, this one asks for adamw"]),
    (("--augment", "on", "--val", "10", "--test-limit", "50"),
     ["augmentation (--augment): the checkpoint's run used off, this one asks for on",
      "validation images (--val): the checkpoint's run used 60, this one asks for 10",
      "test subset (--test-limit): the checkpoint's run used 100, this one asks for 50"]),
    (("--options", "widths=8,8", "--freeze", "conv1", "--init", "kaiming"),
     ['backbone options (--options): the checkpoint\'s run used {"widths": [4, 8]}, this one asks for '
      '{"widths": [8, 8]}', "freeze (--freeze): the checkpoint's run used [], this one asks for [\"conv1\"]",
      "initialisation (--init): the checkpoint's run used default, this one asks for kaiming"]),
    (("--dataset", "mnist"), ["dataset (--dataset): the checkpoint's run used digits, this one asks for mnist"]),
])
def test_a_changed_setting_is_refused_naming_both_values(runs, args, lines):
    out = runs["root"] / "refused"
    res = _train(runs["home"], "--resume", str(runs["stopped"]), *args, "--out", str(out))
    assert res.returncode == 2, res.stdout
    assert res.stderr.startswith(f"error: cannot resume from {runs['stopped']}: a resume continues the same run")
    for line in lines:
        assert line in res.stderr, res.stderr
    assert res.stderr.count(": the checkpoint's run used ") == len(lines), res.stderr  # nothing else named
    assert "Leave" in res.stderr and "start a new run without --resume" in res.stderr
    assert not out.with_suffix(".json").exists() and "epoch" not in res.stdout  # refused before any work


def test_the_same_settings_given_again_are_not_a_change(runs):
    """Giving a setting with the checkpoint's value (or the default it resolved to) is no difference."""
    out = runs["root"] / "again"
    res = _train(runs["home"], *MODEL, *BASE, "--seed", "1", "--lr", "0.05", "--weight-decay", "5e-4", "--augment",
                 "off", "--val", "60", "--optimizer", "sgd", "--resume", str(runs["stopped"]), "--max-steps", "4",
                 "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert _side(out)["steps"] == 4


# --- resume continues the same run: the uninterrupted weights, the first run's provenance --------------------
def test_resume_with_nothing_given_continues_to_the_uninterrupted_weights(runs):
    stopped = _copy_set(runs["stopped"], runs["root"] / "cont")
    res = _train(runs["home"], "--resume", str(stopped), "--out", str(stopped))
    assert res.returncode == 0, res.stderr
    full, got = _side(runs["full"]), _side(stopped)
    # bit for bit (fixed --threads 1): resumed at step 3 of epoch 1, with that epoch's running sums
    assert stopped.with_suffix(".safetensors").read_bytes() == runs["full"].with_suffix(".safetensors").read_bytes()
    assert (got["epoch"], got["steps"], got["partial_epoch"]) == (2, 16, None)
    assert (got["test_accuracy"], got["val_accuracy"]) == (full["test_accuracy"], full["val_accuracy"])
    assert got["architecture"] == full["architecture"] and got["architecture"]["seed"] == 1
    skip = ("out", "max_steps")
    assert {k: v for k, v in got["options"].items() if k not in skip} == \
        {k: v for k, v in full["options"].items() if k not in skip}
    assert "seeds: data 1, model 1" in res.stdout and "epoch 1:" in res.stdout and "epoch 2:" in res.stdout
    epoch1 = [ln for ln in res.stdout.splitlines() if ln.startswith("epoch 1:")]
    assert epoch1 == [ln for ln in runs["full_out"].splitlines() if ln.startswith("epoch 1:")]  # whole-epoch sums


def test_resume_keeps_the_first_runs_architecture_and_starting_point(tmp_path):
    """A resumed spec is the checkpoint reloaded (init "checkpoint"): the sidecar keeps the first run's init, seed
    and started_from, not the reload's."""
    from app.models.spec import ModelSpec
    from app.models.train import TrainConfig, TrainError, train
    from app.tasks import run_to_end
    from tests.test_models_train import TOY

    spec = ModelSpec.make("simple", options={"in_channels": 1, "widths": [4]}, init="kaiming", seed=7)
    out = tmp_path / "k"
    run_to_end(train(spec, TrainConfig("toy", epochs=2, batch_size=64, max_steps=2, out=str(out)), device="cpu",
                     data=TOY))
    first = _side(out)
    reloaded = ModelSpec.make("simple", options={"in_channels": 1, "widths": [4]}, init="checkpoint",
                              weights=str(out.with_suffix(".safetensors")), seed=7)
    run_to_end(train(reloaded, TrainConfig("toy", epochs=2, batch_size=64, out=str(out), resume=str(out)),
                     device="cpu", data=TOY))
    after = _side(out)
    assert after["architecture"] == first["architecture"]
    assert after["architecture"]["init"] == "kaiming" and after["architecture"]["seed"] == 7
    assert after["started_from"] is None and after["epoch"] == 2
    with pytest.raises(TrainError, match=r"learning rate \(--lr\): the checkpoint's run used 0.05, this one asks "
                                         r"for 0.1"):  # the core refuses too (the GUI, experiments)
        run_to_end(train(spec, TrainConfig("toy", epochs=3, batch_size=64, lr=0.1, out=str(out), resume=str(out)),
                         device="cpu", data=TOY))


# --- --max-steps: a stop, not a shorter schedule ---------------------------------------------------------------
def test_max_steps_stops_part_way_and_records_it(runs):
    side = _side(runs["stopped"])
    assert (side["epoch"], side["steps"]) == (0, 3)  # no complete epoch yet
    assert side["partial_epoch"] == {"epoch": 1, "steps": 3, "of": 8}
    assert side["schedule"]["total_steps"] == 16 and side["options"]["max_steps"] == 3
    out = runs["stopped_out"]
    assert "3 of 16 steps (0 complete epoch(s) of 2, epoch 1 part-done)" in out
    assert "epoch 1 (stopped by --max-steps after step 3):" in out
    assert f"train --resume {runs['stopped']} --out {runs['stopped']} continues the run at step 3" in out
    # the lr after 3 steps is that of the 16-step cosine (it used to be squeezed into the 3 steps: lr 0)
    line = [ln for ln in out.splitlines() if ln.startswith("epoch 1")][0]
    assert "  next lr " in line  # the rate the next step uses, not the one the epoch ran with
    lr = line.rsplit("lr ", 1)[1]
    assert float(lr) == pytest.approx(0.05 * 0.5 * (1 + math.cos(math.pi * 3 / 16)), rel=1e-3)


def test_resume_with_a_smaller_max_steps_than_done_is_refused(runs):
    res = _train(runs["home"], "--resume", str(runs["stopped"]), "--max-steps", "2", "--out",
                 str(runs["root"] / "ms2"))
    assert res.returncode == 2 and "it already has 3 steps, and --max-steps 2 stops at 2" in res.stderr


def test_an_older_max_steps_checkpoint_is_refused_clearly(runs):
    """Earlier versions saved a --max-steps stop as a complete epoch (epoch 1 after 3 of 8 steps): it cannot be
    continued at the right step."""
    old = _copy_set(runs["stopped"], runs["root"] / "old")
    Path(str(old) + ".manifest.json").unlink()  # sets without a manifest are checked by their epoch numbers
    side = _side(old)
    side["epoch"] = 1
    old.with_suffix(".json").write_text(json.dumps(side))
    sp = Path(str(old) + ".state.pt")
    state = torch.load(sp, weights_only=True)
    state["epoch"] = 1
    del state["epoch_sums"], state["total_steps"]
    torch.save(state, sp)
    res = _train(runs["home"], "--resume", str(old), "--out", str(old))
    assert res.returncode == 2
    assert "step 3 after 1 complete epoch(s) of 8 steps, which does not add up" in res.stderr
    assert "stopped by --max-steps part-way through an epoch by an earlier version" in res.stderr


# --- extending --epochs: the schedule is rebuilt, and the output and the sidecar say so -----------------------
def test_more_epochs_rebuild_the_schedule_and_say_so(runs):
    ext = _copy_set(runs["full"], runs["root"] / "ext")
    res = _train(runs["home"], "--resume", str(ext), "--epochs", "3", "--out", str(ext))
    assert res.returncode == 0, res.stderr
    assert "note: schedule rebuilt: the checkpoint's run planned its cosine learning-rate schedule over 16 steps, " \
           "this one over 24 (3 epochs); at step 16 the learning rate goes from 0 to 0.0125" in res.stdout
    assert "not that of an uninterrupted 3-epoch run" in res.stdout
    side = _side(ext)
    assert side["options"]["epochs"] == 3 and side["epoch"] == 3 and side["steps"] == 24
    rebuilt = side["schedule"]["rebuilt"]
    assert side["schedule"]["total_steps"] == 24 and len(rebuilt) == 1
    assert (rebuilt[0]["at_step"], rebuilt[0]["total_steps_before"], rebuilt[0]["total_steps"]) == (16, 16, 24)
    assert rebuilt[0]["lr_after"] == pytest.approx(0.0125)
    assert [ln for ln in res.stdout.splitlines() if ln.startswith("epoch 3:")][0].endswith("lr 0")  # ends at 0
    # the same epochs as planned: no rebuild, nothing said
    assert "schedule rebuilt" not in runs["full_out"]


# --- the sidecar records the values used; older sidecars with nulls still resume ---------------------------
def test_the_sidecar_records_the_resolved_values(runs):
    opts = _side(runs["full"])["options"]
    assert (opts["lr"], opts["weight_decay"], opts["augment"], opts["val"]) == (0.05, 5e-4, False, 60)
    assert opts["momentum"] == 0.9 and opts["optimizer"] == "sgd" and opts["batch_size"] == 32


def test_an_older_sidecar_with_null_defaults_still_resumes_exactly(runs):
    old = _copy_set(runs["stopped"], runs["root"] / "nulls")
    Path(str(old) + ".manifest.json").unlink()
    side = _side(old)
    side["options"].update(lr=None, weight_decay=None, augment=None, val=None)  # as written before the fix
    old.with_suffix(".json").write_text(json.dumps(side))
    res = _train(runs["home"], "--resume", str(old), "--out", str(old))
    assert res.returncode == 0, res.stderr
    assert old.with_suffix(".safetensors").read_bytes() == runs["full"].with_suffix(".safetensors").read_bytes()
    assert _side(old)["options"]["lr"] == 0.05  # and now recorded resolved
    res = _train(runs["home"], "--resume", str(old), "--epochs", "3", "--lr", "0.1", "--out", str(old) + "x")
    assert res.returncode == 2 and "the checkpoint's run used 0.05, this one asks for 0.1" in res.stderr


def test_what_is_left_out_on_resume_is_the_checkpoints_banks_model_seed_and_input(tmp_path):
    """An audit: --resume without --bank trained the kernels the checkpoint records as frozen (498 trainable / 0
    frozen where the first part had 471 / 27); --seed given again with its value was refused when the run had its
    own --model-seed; --input-preset given again was refused (a size the data decides compared as null)."""
    from safetensors.torch import load_file

    from app.kernels import generate, io

    home = tmp_path / "home"
    bank = generate("dct", 4, 3, 3, name="dct4").with_frozen(0, True)
    io.save(bank, tmp_path / "bank.json")
    first, again = tmp_path / "b", tmp_path / "b2"
    res = _train(home, *MODEL, *BASE, "--bank", f"conv1={tmp_path / 'bank.json'}", "--epochs", "2", "--seed", "0",
                 "--model-seed", "5", "--input-preset", "unit", "--max-steps", "3", "--out", str(first))
    assert res.returncode == 0, res.stderr
    frozen_line = next(line for line in res.stdout.splitlines() if "trainable /" in line).split(";", 1)[1]
    res = _train(home, "--resume", str(first), "--seed", "0", "--input-preset", "unit", "--out", str(again))
    assert res.returncode == 0, res.stderr
    assert frozen_line in res.stdout  # the same trainable / frozen counts: the bank's frozen kernel stays frozen
    w = load_file(str(again.with_suffix(".safetensors")))["blocks.0.conv.weight"].numpy()
    assert (w[0] == bank.weights[0]).all()  # bit for bit, after the resumed steps
    assert "seeds: data 0, model 5" in res.stdout
    assert _side(again)["architecture"]["banks"][0]["frozen"] == [True, False, False, False]
