"""Models audit (issue 31): on/off options written as words (1), the patches backbone fitted before training (2), a
forward pass that fails in training and simple's kernel size / stride (3), a backbone without parameters trained
(4), --mean/--std counts (5), the Models workspace after a checkpoint changes on disk (6) and train --out over an
existing checkpoint set (7). Tiny data (digits, a few dozen images, one or two steps): seconds each."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from tests.cli_inprocess import run_cli

DATA = ("--dataset", "digits", "--train-limit", "60", "--test-limit", "20")


def _train(tmp_path: Path, *args: str):
    res = run_cli("train", *args, home=tmp_path / "home")
    assert "Traceback" not in res.stderr, res.stderr[-3000:]
    return res


def _weights(stem: Path) -> dict:
    from app.models.weights import read_state_dict

    return {k: v.float().numpy() for k, v in read_state_dict(str(stem) + ".safetensors").items()}


def _side(stem: Path) -> dict:
    return json.loads(Path(str(stem) + ".json").read_text())


def _bn_layers(model) -> int:
    return sum("BatchNorm" in type(m).__name__ for m in model.modules())


# --- 1. an on/off option written as a word -------------------------------------------------------------------
def test_batchnorm_off_on_the_command_line_trains_without_batchnorm_and_records_false(tmp_path):
    """``--options batchnorm=off`` built the net WITH batch-norm (a non-empty word is truthy) and the sidecar said
    "off"; now off/no/0 (any case) are False, on/yes/1 True, and the sidecar holds the bool."""
    res = _train(tmp_path, "--backbone", "simple", "--options", "widths=4", "batchnorm=OFF", *DATA, "--max-steps", "1",
                 "--out", str(tmp_path / "off"))
    assert res.returncode == 0, res.stderr
    assert not any(".bn." in k for k in _weights(tmp_path / "off"))
    assert _side(tmp_path / "off")["architecture"]["options"]["batchnorm"] is False
    res = _train(tmp_path, "--backbone", "simple", "--options", "widths=4", "batchnorm=yes", *DATA, "--max-steps", "1",
                 "--out", str(tmp_path / "on"))
    assert res.returncode == 0, res.stderr
    assert any(".bn.running_mean" in k for k in _weights(tmp_path / "on"))
    assert _side(tmp_path / "on")["architecture"]["options"]["batchnorm"] is True


def test_an_unknown_word_for_an_on_off_option_is_refused_naming_it_and_the_words(tmp_path):
    res = _train(tmp_path, "--backbone", "simple", "--options", "batchnorm=maybe", *DATA, "--out", str(tmp_path / "x"))
    assert res.returncode == 2
    assert res.stderr.startswith("error: --options: simple: batchnorm is on or off: give true/false, on/off, yes/no "
                                 "or 1/0 (got 'maybe')"), res.stderr
    assert not Path(str(tmp_path / "x") + ".json").exists()


@pytest.mark.parametrize("word, on", [("off", False), ("No", False), ("0", False), (0, False), (False, False),
                                      ("on", True), ("TRUE", True), ("1", True), (1, True), (True, True)])
def test_every_path_of_an_option_converts_the_words(word, on):
    """A model spec (a session record, a sidecar), an experiment recipe's cell and the command line all build what
    the word says; lc-resnet20's ``learn_spatial=off`` keeps the random 3x3 filters frozen (Gavrikov & Keuper's
    frozen arm), where it trained them."""
    from app.cliargs import add_model_arguments
    from app.experiments.cell import model_spec
    from app.models.build import build
    from app.models.freeze import param_counts
    from app.models.spec import ModelSpec
    from app.models.spec_args import spec_from_args

    bn = 3 if on else 0
    from_json = ModelSpec.from_dict({"backbone": "simple", "options": {"batchnorm": word}})
    assert _bn_layers(build(from_json, device="cpu")) == bn
    cell = model_spec({"backbone": "simple", "options": {"batchnorm": word}, "dataset": "digits"})
    assert _bn_layers(build(cell, device="cpu")) == bn
    if isinstance(word, str):
        p = argparse.ArgumentParser()
        add_model_arguments(p)
        spec = spec_from_args(p.parse_args(["--backbone", "simple", "--options", f"batchnorm={word}"]))
        assert dict(spec.options)["batchnorm"] is on  # what the sidecar will record
        assert _bn_layers(build(spec, device="cpu")) == bn
    if word in ("off", "on"):
        lc = build(ModelSpec.make("lc-resnet20", options={"learn_spatial": word}), device="cpu")
        assert (param_counts(lc).frozen > 0) is (not on)


@pytest.mark.parametrize("value", ["n", "nope", [1], 2, "", None])
def test_a_value_that_is_not_on_or_off_is_the_projects_error(value):
    from app.models.build import BuildError, build
    from app.models.spec import ModelSpec
    from app.models.viz import option_fields, parse_option

    with pytest.raises(BuildError, match=r"simple: batchnorm is on or off: give true/false, on/off, yes/no or 1/0"):
        build(ModelSpec.make("simple", options={"batchnorm": value}), device="cpu")
    field = next(f for f in option_fields("simple") if f.name == "batchnorm")
    assert parse_option(field, "off") is False and parse_option(field, "Yes") is True
    with pytest.raises(ValueError, match="batchnorm is on or off"):
        parse_option(field, value)


# --- 2. the patches backbone is fitted on the training split before training -----------------------------------
PATCHES = ("--backbone", "patches", "--options", "in_channels=1", "k=16", "patch_size=3", "n_patches=500",
           "kmeans_epochs=2", "--dataset", "digits", "--train-limit", "100", "--test-limit", "20")


def test_training_patches_fits_its_filters_on_the_training_split_as_the_probe_does(tmp_path):
    """``train --backbone patches`` trained a head over the seeded random filters and identity whitening (``fitted``
    0) and recorded "fitted"; now the filters are fitted first, on the training split after the validation split is
    carved off, exactly as the probe fits them, and the sidecar records the fit. A resume keeps that fit."""
    from app.models.build import build
    from app.models.evaluate import load_split
    from app.models.spec import ModelSpec
    from app.probe.extract import content_digest, fit_backbone
    from app.tasks import run_to_end

    out = tmp_path / "p"
    res = _train(tmp_path, *PATCHES, "--epochs", "2", "--max-steps", "1", "--out", str(out))
    assert res.returncode == 0, res.stderr
    w, side = _weights(out), _side(out)
    assert int(w["fitted"]) == 1 and side["architecture"]["weight_state"] == "fitted"
    # the fit the probe would make on the same training split (digits: 100 images, 20 carved off for validation)
    train = load_split("digits", "train", 100, None, 0)
    train, _val = train.split_off(side["val"], 0)
    model = build(ModelSpec.make("patches", options={"in_channels": 1, "k": 16, "patch_size": 3, "n_patches": 500,
                                                    "kmeans_epochs": 2}), device="cpu")
    from app.models.inputs import InputSpec

    fit = run_to_end(fit_backbone(model, train, InputSpec.from_dict(side["input"]), 0))
    assert fit["images"] == 80 and fit["train_digest"] == content_digest(train)
    assert side["fit"] == {"seed": 0, "images": 80, "of": 80, "split": "train (validation carved off)"}
    for name in ("zca", "patch_mean", "encoder.weight"):
        assert np.array_equal(w[name], model.state_dict()[name].numpy()), name
    res = _train(tmp_path, "--resume", str(out), "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert "fitting the filters" not in res.stderr  # the checkpoint's fit is kept, not made again
    assert _side(out)["fit"] == side["fit"] and np.array_equal(_weights(out)["zca"], w["zca"])


# --- 3. a forward pass that fails in training; simple's kernel size and stride ---------------------------------
@pytest.mark.parametrize("args, shape", [
    (("--options", "widths=4,4,4,4,4,4"), "48 3-channel 8x8"),  # pooled 8 -> 4 -> 2 -> 1 -> 0
    (("--input-size", "3", "--input-preset", "mnist"), "48 3-channel 3x3"),  # the report's: 3 -> 1 -> 0
])
def test_maps_that_shrink_to_nothing_are_the_projects_error_in_training_as_in_eval(tmp_path, args, shape):
    """A forward pass that fails in training was a raw traceback (the Train… dialog showed torch's bare text); it is
    now said as eval says it: the model, the batch, torch's reason."""
    res = _train(tmp_path, "--backbone", "simple", *args, *DATA, "--out", str(tmp_path / "x"))
    assert res.returncode == 2, res.stderr
    assert f"error: simple: the model failed on a batch of {shape} images (" in res.stderr, res.stderr
    assert "too small" in res.stderr


@pytest.mark.parametrize("opts, message", [
    ({"kernel_size": 0}, "simple: kernel_size must be at least 1 on every layer, got 0"),
    ({"widths": [4, 4], "kernel_size": [3, 0]}, "simple: kernel_size must be at least 1 on every layer, got (3, 0)"),
    ({"stride": 0}, "simple: stride must be at least 1 on every layer, got 0"),
    ({"stride": -2}, "simple: stride must be at least 1 on every layer, got -2"),
])
def test_simple_refuses_a_kernel_or_stride_below_one_when_built(tmp_path, opts, message):
    """The Models builder showed such a model as fine and only Train failed (torch's "could not create a primitive
    descriptor", "non-positive stride"); now the build says what is wrong, and so does train."""
    from app.models.build import BuildError, build
    from app.models.spec import ModelSpec

    with pytest.raises(BuildError) as info:
        build(ModelSpec.make("simple", options=opts), device="cpu")
    assert str(info.value) == message
    if len(opts) == 1:
        (k, v), = opts.items()
        res = _train(tmp_path, "--backbone", "simple", "--options", f"{k}={v}", *DATA, "--out", str(tmp_path / "x"))
        assert res.returncode == 2 and res.stderr.strip().endswith(message), res.stderr


# --- 4. a backbone without parameters trains its head ----------------------------------------------------------
def test_scattering_has_no_parameters_and_trains_its_new_head(tmp_path):
    """``train --backbone scattering`` ended in "generator raised StopIteration" (the device was read from the first
    parameter); its filters are buffers, and the head the training adds is what trains."""
    out = tmp_path / "s"
    res = _train(tmp_path, "--backbone", "scattering", "--options", "in_channels=1", *DATA, "--max-steps", "1",
                 "--out", str(out))
    assert res.returncode == 0, res.stderr
    side = _side(out)
    w = _weights(out)
    head = sum(v.size for k, v in w.items() if k.startswith("head."))
    assert head > 0 and side["trainable"] == head
    assert "final test accuracy:" in res.stdout and f"{head:,} trainable / 0 frozen parameters" in res.stdout


# --- 5. --mean / --std counts -----------------------------------------------------------------------------------
@pytest.mark.parametrize("mean, std, message", [
    ("0.1,0.9", "0.2,0.4", "--mean: give 1 value (the same for every channel) or one per input channel (3: R, G, B), "
                           "got 2"),
    ("0.1,0.5,0.9,0.3", "0.2,0.2,0.2,0.2", "--mean: give 1 value (the same for every channel) or one per input "
                                           "channel (3: R, G, B), got 4"),
    ("0.1", "0.2,0.3,0.4", "--mean has 1 value(s) but --std has 3: give both the same number"),
])
def test_mean_and_std_counts_other_than_one_or_three_are_refused(tmp_path, mean, std, message):
    """2 or 4 values were averaged into one per channel (mean 0.5, std 0.3 for 0.1,0.9 / 0.2,0.4) without a word."""
    res = _train(tmp_path, "--backbone", "simple", "--mean", mean, "--std", std, *DATA, "--out", str(tmp_path / "x"))
    assert res.returncode == 2 and res.stderr.strip() == f"error: {message}", res.stderr
    res = run_cli("eval", "--weights", str(Path(__file__).resolve().parent.parent / "resources" / "models"
                                           / "simple_mnist.safetensors"),
                  "--mean", mean, "--std", std, "--dataset", "digits", "--test-limit", "10", home=tmp_path / "home")
    assert res.returncode == 2 and res.stderr.strip() == f"error: {message}", res.stderr


def test_an_input_spec_with_two_or_four_values_is_refused_not_averaged():
    """The same rule where no command line is involved (a sidecar's or a dialog's input spec)."""
    from app.models.inputs import InputSpec, InputSpecError

    with pytest.raises(InputSpecError, match="mean and std have 2 values for 3 channel"):
        InputSpec.from_dict({"channels": 3, "mean": [0.1, 0.9], "std": [0.2, 0.4]})
    assert InputSpec(3, None, (0.5,), (0.25,)).mean == (0.5, 0.5, 0.5)  # one value: every channel
    assert len(InputSpec(1, None, (0.4, 0.5, 0.6), (0.2, 0.2, 0.2)).mean) == 1  # RGB -> grey by luma, as documented


# --- 6. the Models workspace after a checkpoint changes on disk ------------------------------------------------
@pytest.mark.gui
def test_loading_a_checkpoint_again_after_it_changed_on_disk_shows_its_new_kernels(models_workspace_for_audit31,
                                                                                   qtbot, tmp_path):
    import torch

    from app.models import create
    from app.models.weights import save_checkpoint

    ws = models_workspace_for_audit31
    torch.manual_seed(5)
    first = create("simple", widths=(4, 8), in_channels=1)
    save_checkpoint(first, tmp_path / "ck")
    path = str(tmp_path / "ck.safetensors")
    ws.load_weights(path)
    qtbot.waitUntil(lambda: ws.weights_label.text() == "ck.safetensors" and ws.builder_ready(), timeout=20000)
    assert np.array_equal(ws._builder_view.kernels["blocks.0.conv"], first.blocks[0].conv.weight.detach().numpy())
    with torch.no_grad():  # the file is rewritten (train --resume X --out X): same architecture, new weights
        first.blocks[0].conv.weight.neg_()
    save_checkpoint(first, tmp_path / "ck")
    ws.load_weights(path)
    new = first.blocks[0].conv.weight.detach().numpy()
    qtbot.waitUntil(lambda: ws.builder_ready()
                    and np.array_equal(ws._builder_view.kernels["blocks.0.conv"], new), timeout=20000)


@pytest.fixture
def models_workspace_for_audit31(qtbot, fe_home, tmp_path):
    from PySide6.QtCore import QSettings

    from app.session import Session
    from widgets.application import make_app
    from widgets.models.workspace import ModelsWorkspace

    make_app()
    s = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    s.setValue("models/backbone", "simple")
    s.setValue("models/options/simple", '{"widths": [4, 8], "in_channels": 1}')
    w = ModelsWorkspace(Session(), s)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(w.builder_ready, timeout=20000)
    yield w
    w.shutdown()


# --- 7. train --out over an existing checkpoint set ----------------------------------------------------------
def test_train_refuses_to_overwrite_a_checkpoint_set_and_says_how_to_continue_it(tmp_path):
    """A run stopped by --max-steps says "train --resume X --out X continues the run"; a second ``train --out X``
    without --resume replaced all its files at its first epoch without a word."""
    out = tmp_path / "ow"
    res = _train(tmp_path, "--backbone", "simple", "--options", "widths=4", *DATA, "--epochs", "2", "--max-steps", "1",
                 "--out", str(out))
    assert res.returncode == 0, res.stderr
    before = {p.name: p.read_bytes() for p in tmp_path.glob("ow.*")}
    assert len(before) == 4  # weights, sidecar, training state, manifest
    res = _train(tmp_path, "--backbone", "simple", "--options", "widths=4", *DATA, "--lr", "0.01", "--out", str(out))
    assert res.returncode == 2 and "epoch" not in res.stdout
    assert res.stderr.startswith(f"error: --out {out}: a checkpoint set is already there (ow.safetensors, ow.json, "
                                 f"ow.state.pt, ow.manifest.json); a new run would overwrite it. Give another --out, "
                                 f"or pass --resume {out} to continue that run"), res.stderr
    assert {p.name: p.read_bytes() for p in tmp_path.glob("ow.*")} == before  # nothing touched
    other = tmp_path / "other"
    res = _train(tmp_path, "--backbone", "simple", "--options", "widths=4", *DATA, "--max-steps", "1", "--out",
                 str(other))
    assert res.returncode == 0, res.stderr
    res = _train(tmp_path, "--resume", str(out), "--out", str(other))  # a resume into another run's files
    assert res.returncode == 2 and "another checkpoint set is already there" in res.stderr, res.stderr
    res = _train(tmp_path, "--resume", str(out), "--out", str(out))  # what the message says: continues in place
    assert res.returncode == 0, res.stderr
    assert _side(out)["epoch"] == 2


@pytest.mark.gui
def test_the_builder_form_shows_an_off_word_from_an_older_sidecar_as_unchecked(qtbot):
    """The options form ticked ``batchnorm: "off"`` (bool("off") is True), so the model built from it had batch-norm."""
    from widgets.application import make_app
    from widgets.models.builder_form import BuilderForm

    make_app()
    form = BuilderForm()
    qtbot.addWidget(form)
    form.fill_options("simple", {"batchnorm": "off"})
    box = form._fields["batchnorm"][1]
    assert not box.isChecked()
    form.fill_options("simple", {"batchnorm": "yes"})
    assert form._fields["batchnorm"][1].isChecked()
    form.fill_options("simple", {"batchnorm": "maybe"})  # unreadable: the option's default
    from app.models import viz

    default = next(f.default for f in viz.option_fields("simple") if f.name == "batchnorm")
    assert form._fields["batchnorm"][1].isChecked() is bool(default)


# --- an older checkpoint whose sidecar says "off" for an option its weights have on ----------------------------
def _old_checkpoint(tmp_path: Path, word: str, trained_with: bool) -> Path:
    """A checkpoint as versions before 2026-12-03 wrote it: the sidecar keeps the word the user typed, the model was
    built with ``bool(word)``."""
    import torch

    from app.models.build import build
    from app.models.spec import ModelSpec
    from app.models.weights import save_checkpoint

    spec = ModelSpec.make("simple", options={"widths": (4,), "batchnorm": trained_with, "num_classes": 10},
                          seed=3)
    model = build(spec, device="cpu")
    with torch.no_grad():  # batch-norm statistics that change the output, so a wrong load would show
        for m in model.modules():
            if "BatchNorm" in type(m).__name__:
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    stem = tmp_path / f"old-{word}-{trained_with}"
    save_checkpoint(model, stem, spec, dataset="digits")
    side = _side(stem)
    side["architecture"]["options"]["batchnorm"] = word
    Path(str(stem) + ".json").write_text(json.dumps(side))
    return stem


@pytest.mark.parametrize("word", ["off", "False", "no", "0"])
def test_an_older_checkpoint_whose_sidecar_says_off_loads_as_it_was_trained_with_a_warning(tmp_path, word):
    """Versions before 2026-12-03 built batch-norm for ``batchnorm: "off"`` and wrote the word into the sidecar; the
    strict loader then refused the checkpoint ("unexpected keys"): the user's model could no longer be opened."""
    import torch

    from app.models.build import build, spec_from_checkpoint
    from app.models.weights import read_state_dict

    stem = _old_checkpoint(tmp_path, word, trained_with=True)
    with pytest.warns(UserWarning) as caught:
        model = build(spec_from_checkpoint(str(stem) + ".safetensors"), device="cpu")
    text = str(caught[0].message)
    assert text == (f"{stem.name}.safetensors: its settings say batchnorm={word}, but its weights were trained with "
                    "batchnorm on (versions before 2026-12-03 read that word as on); loaded as trained, with "
                    "batchnorm=on")
    assert _bn_layers(model) == 1 and dict(model.fe_spec.options)["batchnorm"] is True
    state = read_state_dict(str(stem) + ".safetensors")
    own = model.state_dict()
    assert all(torch.equal(own[k].float(), v.float()) for k, v in state.items())


def test_a_sidecar_off_word_whose_weights_have_no_batchnorm_loads_quietly(tmp_path, recwarn):
    from app.models.build import build, spec_from_checkpoint

    stem = _old_checkpoint(tmp_path, "off", trained_with=False)
    model = build(spec_from_checkpoint(str(stem) + ".safetensors"), device="cpu")
    assert _bn_layers(model) == 0 and not [w for w in recwarn if "trained with" in str(w.message)]


def test_weights_that_fit_neither_reading_keep_the_loaders_own_error(tmp_path):
    from app.models.build import build, spec_from_checkpoint
    from app.models.weights import WeightsError

    stem = _old_checkpoint(tmp_path, "off", trained_with=True)
    side = _side(stem)
    side["architecture"]["options"]["widths"] = [5]
    Path(str(stem) + ".json").write_text(json.dumps(side))
    with pytest.raises(WeightsError, match="does not fit SimpleCNN: missing keys: blocks.0.conv.bias; unexpected keys: blocks.0.bn"):
        build(spec_from_checkpoint(str(stem) + ".safetensors"), device="cpu")


def test_eval_of_an_older_off_checkpoint_prints_one_warning_line(tmp_path):
    stem = _old_checkpoint(tmp_path, "off", trained_with=True)
    res = run_cli("eval", "--weights", str(stem) + ".safetensors", "--dataset", "digits", "--test-limit", "20",
                  home=tmp_path / "home")
    assert res.returncode == 0, res.stderr[-2000:]
    lines = [ln for ln in res.stderr.splitlines() if "trained with" in ln]
    assert lines == [f"warning: {stem.name}.safetensors: its settings say batchnorm=off, but its weights were trained "
                     "with batchnorm on (versions before 2026-12-03 read that word as on); loaded as trained, with "
                     "batchnorm=on"]


@pytest.mark.gui
def test_the_window_says_when_an_older_checkpoint_is_loaded_as_it_was_trained(qtbot, fe_home, tmp_path):
    """The warning reached no one in the desktop app: workers caught it and nothing listened (the Probe's and Live's
    model lists build saved checkpoints from their sidecars)."""
    from widgets.application import make_app
    from widgets.common.worker import Worker
    from widgets.main_window import MainWindow

    stem = _old_checkpoint(tmp_path, "off", trained_with=True)
    make_app()
    win = MainWindow(workspace="models", persist=False)
    qtbot.addWidget(win)
    win.show()
    from app.models.build import build, spec_from_checkpoint

    job = Worker(lambda token: build(spec_from_checkpoint(str(stem) + ".safetensors"), device="cpu"), name="old")
    with qtbot.waitSignal(job.finished, timeout=30_000):
        job.start()
    qtbot.waitUntil(lambda: win.statusBar().currentMessage().startswith("Note: "), timeout=30_000)
    assert win.statusBar().currentMessage() == (
        f"Note: {stem.name}.safetensors: its settings say batchnorm=off, but its weights were trained with batchnorm "
        "on (versions before 2026-12-03 read that word as on); loaded as trained, with batchnorm=on")
    win.close()
    assert Worker.notice is None


def test_load_weights_on_the_off_form_says_the_file_was_trained_with_it_on(tmp_path):
    """The Models workspace's Load weights… on the architecture the sidecar names (batch-norm unticked) is refused
    ("unexpected keys: ...bn..."): the refusal says which box to tick."""
    from app.models.hints import refusal_hint

    stem = _old_checkpoint(tmp_path, "off", trained_with=True)
    assert refusal_hint(str(stem) + ".safetensors", "simple") == (
        " — this file was trained with batchnorm on (its settings' word 'off' was read as on before 2026-12-03); "
        "tick it and load again.")
    assert refusal_hint(str(_old_checkpoint(tmp_path, "no", trained_with=False)) + ".safetensors", "simple") == ""


def test_the_build_task_of_a_refused_checkpoint_carries_the_hint(tmp_path):
    """The hint was worked out on the GUI thread (a sidecar read and one more build after a refusal, in
    ``widgets.models.words``); now the task that tried the file, off the GUI thread, says it in its error."""
    from app.models.spec import ModelSpec
    from app.models.viz import inspect_task
    from app.models.weights import WeightsError
    from app.tasks import run_to_end

    stem = _old_checkpoint(tmp_path, "off", trained_with=True)
    spec = ModelSpec.make("simple", options={"widths": (4,), "batchnorm": False, "num_classes": 10}, seed=3,
                          weights=str(stem) + ".safetensors")
    with pytest.raises(WeightsError) as err:
        run_to_end(inspect_task(spec, "old"))
    assert str(err.value).endswith(
        " — this file was trained with batchnorm on (its settings' word 'off' was read as on before 2026-12-03); "
        "tick it and load again.")
    assert "does not fit SimpleCNN" in str(err.value)
    other = ModelSpec.make("rdsn", weights=str(stem) + ".safetensors")
    with pytest.raises(Exception) as err:
        run_to_end(inspect_task(other, "other"))
    assert "this file is for simple (" in str(err.value) and str(err.value).endswith("; choose that first.")
