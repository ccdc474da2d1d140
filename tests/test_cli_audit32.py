"""The headless commands' audit of session 32: an --out that cannot be written is refused before any work (and an
OSError that escapes a command is a message, not a traceback); --init beside --weights is read (the checkpoint's
random twin) and checked; a C given to bench svm is not called a default; the desktop app's options before a command
are refused; a feature budget above what PCA can give says so; top-patches says when fewer than --k come back;
bench head's --help says what --quick caps; kernels generate does not overwrite a bank unless --force; data download
refuses a mistyped --root and leaves no empty folders behind a failed download. Each as the user sees it: the
``error: ...`` line and exit 2, or the record's fields."""

from __future__ import annotations

import argparse
import errno
import json
import sys
from pathlib import Path

import pytest

from tests.cli_inprocess import run_cli

ROOT = Path(__file__).resolve().parent.parent
SIMPLE_MNIST = ROOT / "resources" / "models" / "simple_mnist.safetensors"
# a folder no file can be made in, whoever runs the tests (a read-only folder does not refuse root)
UNWRITABLE = Path("/proc")
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux") or not UNWRITABLE.is_dir(),
                                reason="needs /proc as a folder that takes no new file")


def _history(home: Path) -> Path:
    from app.probe.history import record
    from tests.test_probe_history import resolved_result

    path = home / "history.sqlite"
    record(resolved_result(), path)
    return path


def _refused_unwritable(r, out: str, what: str = "--out") -> None:
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stderr.startswith(f"error: {what} {out}: cannot write in the folder {UNWRITABLE}: "), r.stderr
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr


# --- 1: an --out no file can be written in: refused before any work ------------------------------------------------
@linux_only
def test_an_unwritable_out_is_refused_before_any_work(tmp_path):
    home = tmp_path / "home"
    db = _history(home)
    out = str(UNWRITABLE / "x.csv")
    _refused_unwritable(run_cli("history", "--db", str(db), "export", "--csv", "--out", out, home=home), out)
    out = str(UNWRITABLE / "t")
    r = run_cli("train", "--backbone", "simple", "--options", "widths=4", "--dataset", "digits", "--train-limit", "64",
                "--test-limit", "32", "--out", out, home=home)
    _refused_unwritable(r, out)
    assert "epoch" not in r.stdout  # not one epoch trained and lost
    out = str(UNWRITABLE / "xr")
    r = run_cli("experiment", "run", "xue-roshan", "--quick", "--executor", "inline", "--out", out, home=home)
    _refused_unwritable(r, out)
    assert not (home / "files" / "experiments").exists()  # no cell ran
    out = str(UNWRITABLE / "p.png")
    _refused_unwritable(run_cli("analyze", "top-patches", "--backbone", "simple", "--options", "widths=4", "--layer",
                                "0", "--channel", "0", "--dataset", "digits", "--n", "4", "--out", out, home=home), out)
    out = str(UNWRITABLE / "k.json")
    _refused_unwritable(run_cli("kernels", "generate", "--kind", "gabor", "--count", "2", "--size", "3", "--out", out,
                                home=home), out)
    out = str(UNWRITABLE / "data")
    _refused_unwritable(run_cli("data", "download", "fashion-mnist", "--root", out, "--mirror", "http://127.0.0.1:1",
                                home=home), out, "--root")


def test_the_write_check_leaves_nothing_behind(tmp_path):
    from app.cliargs import out_file, out_folder

    assert out_file(str(tmp_path / "a.csv")) == str(tmp_path / "a.csv")
    assert out_folder(str(tmp_path / "new")) == str(tmp_path / "new")
    assert out_folder(str(tmp_path)) == str(tmp_path)
    assert list(tmp_path.iterdir()) == []  # the temporary file made and removed; the folder not made


def test_an_os_error_that_escapes_a_command_is_a_message_not_a_traceback(tmp_path, monkeypatch):
    """The last line of defence (app.cli.run): a disk that fills during the write."""
    import app.storage

    def full(path, data, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(app.storage, "atomic_write", full)
    home = tmp_path / "home"
    db = _history(home)
    out = tmp_path / "x.csv"
    r = run_cli("history", "--db", str(db), "export", "--csv", "--out", str(out), home=home)
    assert r.returncode == 2
    assert r.stderr == f"error: cannot write {out}: No space left on device\n"


def test_os_error_text_says_read_or_write_where_the_error_does_not_tell():
    from app.cli import os_error_text

    assert os_error_text(PermissionError(errno.EACCES, "Permission denied", "/a/b")) == \
        "cannot read or write /a/b: Permission denied"
    assert os_error_text(OSError(errno.EROFS, "Read-only file system", "/a/b")) == \
        "cannot write /a/b: Read-only file system"


# --- 2: --init beside --weights: the checkpoint's random twin, and always checked -----------------------------------
def _model_args(*argv: str) -> argparse.Namespace:
    from app.cliargs import add_model_arguments

    p = argparse.ArgumentParser()
    add_model_arguments(p)
    p.add_argument("--freeze", nargs="*", default=None)
    return p.parse_args(list(argv))


def test_an_unknown_init_beside_weights_is_refused(tmp_path):
    r = run_cli("eval", "--weights", str(SIMPLE_MNIST), "--dataset", "digits", "--test-limit", "50", "--init", "bogus",
                home=tmp_path)
    assert r.returncode == 2
    assert r.stderr == ("error: --init: unknown initialisation 'bogus'; known: default, kaiming, gaussian, uniform, "
                        "signed-constant, orthogonal, bank, checkpoint\n")
    r = run_cli("eval", "--weights", str(SIMPLE_MNIST), "--dataset", "digits", "--init", "gaussian:abc", home=tmp_path)
    assert r.returncode == 2 and r.stderr == "error: --init: initialisation 'gaussian:abc': 'abc' is not a number\n"


def test_eval_refuses_the_twin_it_would_have_nothing_to_score_with(tmp_path):
    r = run_cli("eval", "--weights", str(SIMPLE_MNIST), "--dataset", "mnist", "--test-limit", "50", "--init", "kaiming",
                home=tmp_path)
    assert r.returncode == 2
    assert r.stderr == ("error: --init kaiming with --weights gives the checkpoint's random twin (its architecture, no "
                        "trained weights), which has no trained classifier to score; leave out --init to score "
                        "simple_mnist.safetensors (probe --weights simple_mnist.safetensors --init kaiming trains a "
                        "head on the twin's features)\n")


@pytest.mark.parametrize("backbone", [(), ("--backbone", "simple")])
def test_init_beside_weights_gives_the_checkpoints_random_twin(backbone):
    from app.models.spec_args import spec_from_args

    trained = spec_from_args(_model_args("--weights", str(SIMPLE_MNIST), *backbone))
    twin = spec_from_args(_model_args("--weights", str(SIMPLE_MNIST), *backbone, "--init", "gaussian",
                                      "--model-seed", "3"))
    assert (twin.init, twin.weights, twin.weight_state, twin.seed, twin.banks) == ("gaussian", None, "random", 3, ())
    assert twin.label == "simple (random twin of simple_mnist.safetensors, gaussian, seed 3)"
    assert twin.backbone == trained.backbone and twin.options == trained.options  # the checkpoint's architecture
    assert twin.input == trained.input and twin.input.source == "sidecar: as trained on mnist"  # and its input
    same = spec_from_args(_model_args("--weights", str(SIMPLE_MNIST), *backbone, "--init", "checkpoint"))
    assert (same.weights, same.weight_state, same.init) == (trained.weights, "trained", "checkpoint")


def test_the_probe_records_the_twin_as_random(tmp_path):
    r = run_cli("probe", "--weights", str(SIMPLE_MNIST), "--backbone", "simple", "--init", "gaussian", "--dataset",
                "digits", "--train-limit", "100", "--test-limit", "30", "--head", "ridge", "--json", home=tmp_path)
    assert r.returncode == 0, r.stderr
    model = json.loads(r.stdout)["resolved"]["model"]
    assert (model["init"], model["weights"], model["weight_state"]) == ("gaussian", None, "random")


# --- 3: a C given to bench svm is said to be given -------------------------------------------------------------------
def test_bench_svm_says_a_given_C_is_given(tmp_path):
    base = ("bench", "svm", "--quick", "--train-limit", "100", "--test-limit", "40", "--json")
    r = run_cli(*base, "--C", "5", home=tmp_path)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)["settings"]
    assert (s["C"], s["C_chosen"]) == (5.0, "given (--C)")
    r = run_cli(*base, "--C", "0.01", home=tmp_path)  # the default's value, given: given all the same
    assert json.loads(r.stdout)["settings"]["C_chosen"] == "given (--C)"
    r = run_cli(*base, home=tmp_path)
    assert json.loads(r.stdout)["settings"]["C_chosen"] == "fixed (the --quick default)"


# --- 4: the desktop app's options before a command ------------------------------------------------------------------
def test_the_desktop_apps_options_before_a_command_are_refused(tmp_path):
    r = run_cli("--size", "32x32", "bench", "live", "--frames", "2", home=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == ("error: --size 32x32 before the command is an option of the desktop app (the window's size "
                        "for --screenshot), not of bench live: give bench live's own --size after the command "
                        "(python main.py bench live --size 32x32)\n")
    r = run_cli("--screenshot", str(tmp_path / "w.png"), "kernels", "kinds", home=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == (f"error: --screenshot {tmp_path / 'w.png'} before the command is an option of the desktop app "
                        f"(it renders the window to a PNG), which kernels kinds does not use: leave it out (python "
                        f"main.py --screenshot ... without a command starts the desktop app)\n")
    r = run_cli("--workspace", "probe", "history", "list", home=tmp_path)
    assert r.returncode == 2 and r.stderr.startswith("error: --workspace probe before the command is an option of the "
                                                     "desktop app (the workspace the window opens on), which history "
                                                     "list does not use")
    assert not (tmp_path / "w.png").exists()


def test_main_sends_a_command_with_app_options_to_the_refusal_not_the_window():
    sys.path.insert(0, str(ROOT))
    try:
        import main
    finally:
        sys.path.remove(str(ROOT))
    assert not main._wants_gui(["--size", "32x32", "bench", "live"])
    assert main._wants_gui(["--size", "800x600", "--screenshot", "a.png"])


# --- 5: a feature budget above what PCA can give ---------------------------------------------------------------------
def test_a_feature_budget_pca_cannot_fill_is_a_caveat_and_the_budget_asked_is_kept(tmp_path):
    r = run_cli("probe", "--backbone", "rdsn", "--options", "k=32", "--dataset", "digits", "--train-limit", "100",
                "--test-limit", "30", "--head", "ridge", "--feature-budget", "250", "--json", home=tmp_path)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["n_train"] == 80 and d["n_features"] == 80 and d["settings"]["feature_budget"] == 250
    assert d["caveats"] == ["feature budget 250: only 80 PCA directions from 80 training images (PCA finds at most "
                            "one per training image), so the head was fitted on 80 features, not 250"]
    r = run_cli("probe", "--backbone", "rdsn", "--options", "k=32", "--dataset", "digits", "--train-limit", "100",
                "--test-limit", "30", "--head", "ridge", "--feature-budget", "50", "--json", home=tmp_path)
    d = json.loads(r.stdout)
    assert d["n_features"] == 50 and d["caveats"] == []  # a budget PCA fills: nothing to say


# --- 6: top-patches gives at most one patch per image ----------------------------------------------------------------
def test_top_patches_says_when_fewer_than_k_come_back(tmp_path):
    base = ("analyze", "top-patches", "--backbone", "simple", "--options", "widths=4", "--layer", "0", "--channel",
            "0", "--dataset", "digits", "--n", "2", "--k", "1000")
    note = ("2 patches, not the 1000 asked (--k): each image gives at most one, its strongest response, and the sample "
            "has 2 images (--n 2); a larger --n gives more")
    r = run_cli(*base, "--json", home=tmp_path)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert len(d["patches"]) == 2 and d["count_note"] == note
    r = run_cli(*base, home=tmp_path)
    assert r.stdout.strip().splitlines()[-1] == f"note: {note}."
    d = json.loads(run_cli(*base[:-1], "2", "--json", home=tmp_path).stdout)
    assert d["count_note"] is None
    helptext = " ".join(run_cli("analyze", "top-patches", "--help", home=tmp_path).stdout.split())
    assert "--k K how many patches (default 16): at most one per image, its strongest response, so at most --n" \
        in helptext


# --- 7: bench head --quick caps the image counts, and says so ---------------------------------------------------------
def test_bench_quick_help_says_what_it_caps(tmp_path):
    text = " ".join(run_cli("bench", "head", "--help", home=tmp_path).stdout.split())
    assert "--train-limit TRAIN_LIMIT training images, a seeded subset (default 5000; at most 600 with --quick)" in text
    assert "--test-limit TEST_LIMIT test images, a seeded subset (default 1000; at most 200 with --quick)" in text
    text = " ".join(run_cli("bench", "extract", "--help", home=tmp_path).stdout.split())
    assert "--images IMAGES training images (default 10000; at most 300 with --quick)" in text


# --- 8: kernels generate does not overwrite a bank unless --force ----------------------------------------------------
def test_kernels_generate_refuses_an_existing_out_unless_force(tmp_path):
    out = tmp_path / "bank.json"
    out.write_text("my bank")
    args = ("kernels", "generate", "--kind", "gabor", "--count", "2", "--size", "3", "--out", str(out))
    r = run_cli(*args, home=tmp_path)
    assert r.returncode == 2
    assert r.stderr == f"error: --out {out}: the file already exists; give --force to replace it, or another --out\n"
    assert out.read_text() == "my bank"
    r = run_cli(*args, "--force", home=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith(f"wrote {out}: 2 x 1 x 3 x 3")
    from app.kernels.io import load

    assert load(out).out_channels == 2  # replaced by the generated bank
    r = run_cli("kernels", "generate", "--kind", "gabor", "--count", "2", "--size", "3", "--out",
                str(tmp_path / "no" / "b.json"), home=tmp_path)
    assert r.returncode == 2 and r.stderr == (f"error: --out {tmp_path / 'no' / 'b.json'}: the folder {tmp_path / 'no'} "
                                              f"does not exist\n")


# --- 9: data download --root: a mistyped one refused, a failed download leaves no empty folders ----------------------
def test_data_download_refuses_a_mistyped_root_and_cleans_up_a_failed_download(tmp_path):
    root = tmp_path / "dl" / "a" / "b"
    r = run_cli("data", "download", "fashion-mnist", "--root", str(root), "--mirror", "http://127.0.0.1:1",
                home=tmp_path / "home")
    assert r.returncode == 2
    assert r.stderr == f"error: --root {root}: the folder {root.parent} does not exist\n"
    assert not (tmp_path / "dl").exists()
    (tmp_path / "dl").mkdir()
    root = tmp_path / "dl" / "a"
    r = run_cli("data", "download", "fashion-mnist", "--root", str(root), "--mirror", "http://127.0.0.1:1",
                home=tmp_path / "home")
    assert r.returncode == 2 and "download failed: cannot reach http://127.0.0.1:1/" in r.stderr
    assert list((tmp_path / "dl").iterdir()) == []  # neither a/ nor a/FashionMNIST/raw/ left behind


def test_a_failed_download_keeps_what_it_did_not_make(tmp_path):
    from app.data.remote import missing_folders, remove_empty

    (tmp_path / "kept").mkdir()
    made = missing_folders([tmp_path / "kept" / "x" / "raw", tmp_path / "kept" / "y"])
    assert made[0] == tmp_path / "kept" / "x" / "raw" and set(made) == {
        tmp_path / "kept" / "x" / "raw", tmp_path / "kept" / "x", tmp_path / "kept" / "y"}
    (tmp_path / "kept" / "x" / "raw").mkdir(parents=True)
    (tmp_path / "kept" / "x" / "raw" / "f.gz.part").write_bytes(b"12")  # a resumable part stays, with its folders
    (tmp_path / "kept" / "y").mkdir()
    remove_empty(made)
    assert (tmp_path / "kept" / "x" / "raw" / "f.gz.part").exists() and not (tmp_path / "kept" / "y").exists()
