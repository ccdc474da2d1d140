"""Issue #15 in the desktop app: every bad input a user can reach from the GUI, driven as the user does it.

Each test opens the bad file through the slot the file dialog calls (``QFileDialog`` answers with the path), or types
the bad value where the GUI takes free text, and asserts what the user sees: a dialog (``QMessageBox`` captured) or
the workspace's error banner / status line, with the project's own message naming the file and what is wrong; never
traceback text, never a silent failure, and nothing lost (the previous state remains). The bad files are the ones
the command-line tests build (``tests/test_issue15_audit.py``, ``tests/test_data_bad_inputs.py``, ...).
Where the GUI cannot take the bad value at all (a spin box with a range, a combo box), the test pins that.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from app.kernels import generate, io
from app.session import Session
from fixtures_data import image_folder
from test_data_bad_inputs import _cifar_py, _idx_gz, _mnist, _png_header
from test_issue15_audit import _npy_bytes, _npz_declaring

pytestmark = pytest.mark.gui


def no_traceback(text: str) -> None:
    assert "Traceback" not in text and 'File "' not in text, text


@pytest.fixture
def dialogs(monkeypatch):
    """Every QMessageBox the app raises, as (kind, title, text); each answers as if the user pressed OK / No."""
    shown: list[tuple[str, str, str]] = []

    def capture(kind, answer):
        def box(parent, title, text, *a, **k):
            shown.append((kind, title, text))
            return answer
        return box

    for kind in ("warning", "critical", "information"):
        monkeypatch.setattr(QMessageBox, kind, capture(kind, QMessageBox.StandardButton.Ok))
    monkeypatch.setattr(QMessageBox, "question", capture("question", QMessageBox.StandardButton.No))
    return shown


def answer_open(monkeypatch, path) -> None:
    """The open-file dialogs answer with ``path`` (what a user picking it does)."""
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))


def answer_folder(monkeypatch, path) -> None:
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(path))


# =============================================================================================== Kernels
@pytest.fixture
def kernels_ws(qtbot, fe_home):
    from widgets.application import make_app
    from widgets.kernels.workspace import KernelWorkspace

    make_app()
    settings = QSettings(str(Path(fe_home) / "settings.ini"), QSettings.Format.IniFormat)
    ws = KernelWorkspace(Session(), settings)
    qtbot.addWidget(ws)
    ws.resize(1200, 800)
    ws.show()
    ws.wait_ready(10000)
    yield ws
    ws.shutdown()


def _bad_banks(folder: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, what the message must say): the bad kernel files of issue #15."""
    good = json.loads(io.to_json_bytes(generate("classic", 2, 3, 1)))
    (folder / "big.json").write_text(json.dumps(dict(good, shape=[1, 1, 1, 1], kernels=[[[[int("9" * 401)]]]])))
    (folder / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (folder / "huge.npy").write_bytes(_npy_bytes((10**9, 3, 3)))
    _npz_declaring(folder / "huge.npz", 2**31)
    (folder / "notes.json").write_text("these are my notes, not a bank\n")
    (folder / "empty.npy").write_bytes(b"")
    return {
        "401-digit integer": (folder / "big.json", "too large for a float"),
        "100,000 nesting levels": (folder / "deep.json", "nested too deeply"),
        ".npy declaring (10^9, 3, 3)": (folder / "huge.npy", "over the limit"),
        ".npz with a 2 GiB member": (folder / "huge.npz", "over the limit"),
        "text named .json": (folder / "notes.json", "malformed JSON"),
        "empty .npy": (folder / "empty.npy", "the file is empty"),
    }


def test_kernels_open_bank_refuses_each_bad_file_in_a_dialog_and_keeps_the_bank(kernels_ws, dialogs, monkeypatch,
                                                                                tmp_path):
    ws = kernels_ws
    bank, files = ws.bank, dict(ws.files.files)
    for case, (file, needle) in _bad_banks(tmp_path).items():
        dialogs.clear()
        answer_open(monkeypatch, file)
        ws.open_act.trigger()  # File > Open bank... -> the dialog answers with the bad file
        assert len(dialogs) == 1, (case, dialogs)
        kind, title, text = dialogs[0]
        assert (kind, title) == ("warning", "Cannot open bank"), case
        assert file.name in text and needle in text and "Nothing was changed" in text, (case, text)
        no_traceback(text)
        assert ws.bank is bank and ws.files.files == files, case


def test_kernels_open_image_refuses_a_pixel_bomb_in_a_dialog(kernels_ws, dialogs, monkeypatch, tmp_path):
    ws = kernels_ws
    before = ws.views.image
    (tmp_path / "bomb.png").write_bytes(_png_header(20000, 20000))
    answer_open(monkeypatch, tmp_path / "bomb.png")
    ws.image_act.trigger()
    assert [(k, t) for k, t, _ in dialogs] == [("warning", "Cannot open image")]
    text = dialogs[0][2]
    assert "bomb.png: 20000x20000 = 400,000,000 pixels is over the image limit" in text, text
    assert "FILTER_EXPLORER_LIMITS=off" in text
    no_traceback(text)
    ws.wait_ready(10000)
    assert ws.views.image is before or np.array_equal(ws.views.image, before)


def _type_into_spin(qtbot, spin, text: str) -> None:
    spin.setFocus()
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), text)
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_Return)


def test_kernels_generator_cannot_take_seed_minus_one_or_text_numbers(kernels_ws, dialogs, qtbot):
    """``--seed -1``, ``-p std=abc``, ``-p orientations=abc``: the GUI's fields are spin boxes that cannot hold them."""
    ws, gen = kernels_ws, kernels_ws.gen
    gen.kind_combo.setCurrentIndex(gen.kind_combo.findData("gaussian"))
    gen.seed_spin.setValue(5)
    _type_into_spin(qtbot, gen.seed_spin, "-1")
    assert gen.seed_spin.value() >= 0 and gen.seed_spin.minimum() == 0
    std = gen.param_widgets["std"]
    before = std.value()
    _type_into_spin(qtbot, std, "abc")
    assert std.value() == before
    gen.kind_combo.setCurrentIndex(gen.kind_combo.findData("gabor"))
    orient = gen.param_widgets["orientations"]
    _type_into_spin(qtbot, orient, "abc")
    assert isinstance(orient.value(), int) and 0 <= orient.value() <= 64
    assert not dialogs


@pytest.mark.parametrize("kind, saved", [("gaussian", {"std": "abc"}), ("gaussian", {"std": [1]}),
                                         ("gabor", {"orientations": "abc"})])
def test_kernels_generator_saved_parameters_of_the_wrong_type_fall_back_to_the_default(
        qtbot, fe_home, dialogs, kind, saved):
    """A settings file holding ``std=abc`` (edited by hand, an old version): the default, and Generate works."""
    from widgets.application import make_app
    from widgets.kernels.workspace import KernelWorkspace

    make_app()
    settings = QSettings(str(Path(fe_home) / "settings.ini"), QSettings.Format.IniFormat)
    settings.setValue("kernels/kind", kind)
    settings.setValue(f"kernels/params/{kind}", json.dumps(saved))
    settings.setValue("kernels/seed", -1)
    ws = KernelWorkspace(Session(), settings)
    qtbot.addWidget(ws)
    try:
        ws.wait_ready(10000)
        from app.kernels import generators

        (name,) = saved
        default = next(p.default for p in generators.KINDS[kind].params if p.name == name)
        assert ws.gen.param_widgets[name].value() == default and ws.gen.seed_spin.value() == 0
        ws.gen.count_spin.setValue(4)
        ws.gen.size_spin.setValue(5)
        ws.generate()
        ws.wait_ready(10000)
        assert ws.bank.meta["generator"] == kind and ws.bank.shape[0] == 4 and not dialogs
    finally:
        ws.shutdown()


def test_kernels_patches_with_a_bad_dataset_is_a_dialog(kernels_ws, dialogs, qtbot, tmp_path, monkeypatch):
    """The patches generator's dataset is free text: an unknown name, an unreadable folder and an MNIST copy with
    labels out of range each end in a dialog naming the problem; the bank stays."""
    ws, gen = kernels_ws, kernels_ws.gen
    bank = ws.bank
    _mnist(tmp_path / "root", np.zeros((3, 28, 28), np.uint8), np.array([1, 12, 200], np.uint8))
    monkeypatch.setenv("FILTER_EXPLORER_DATA", str(tmp_path / "root"))
    (tmp_path / "junk" / "a").mkdir(parents=True)
    (tmp_path / "junk" / "a" / "x.png").write_bytes(b"junk")
    gen.kind_combo.setCurrentIndex(gen.kind_combo.findData("patches"))
    gen.count_spin.setValue(4)
    gen.size_spin.setValue(5)
    for dataset, needle in (("nosuch", "nosuch"), (f"imagefolder:{tmp_path / 'junk'}", "x.png"),
                            ("mnist", "train-labels-idx1-ubyte: 2 label(s) outside 0..9")):
        dialogs.clear()
        gen.param_widgets["dataset"].setText(dataset)
        qtbot.mouseClick(gen.generate_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: bool(dialogs) and gen.generate_button.isEnabled(), timeout=30000)
        assert [(k, t) for k, t, _ in dialogs] == [("warning", "Cannot generate")], dialogs
        assert needle in dialogs[0][2], (dataset, dialogs[0][2])
        no_traceback(dialogs[0][2])
        assert ws.bank is bank


# =============================================================================================== Models
SIDECARS = [("", "ck.json: the checkpoint's sidecar is empty"),
            ('{"architecture": {"backb', "ck.json: the checkpoint's sidecar is not valid JSON"),
            ("[1, 2]", "ck.json: the checkpoint's sidecar must be a JSON object"),
            ('{"architecture": 5}', "ck.json: 'architecture' must be an object"),
            ('{"dataset": 3}', "ck.json: 'dataset' must be a string")]


@pytest.fixture
def models_ws(models_workspace):
    return models_workspace()


def _checkpoint(folder: Path, widths=(4, 8)) -> tuple[Path, Path]:
    """A checkpoint of the Models fixture's architecture (simple, 1 channel) and its sidecar."""
    from app.models.build import build
    from app.models.spec import ModelSpec
    from app.models.weights import save_checkpoint

    spec = ModelSpec.make("simple", options={"in_channels": 1, "widths": list(widths)})
    folder.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(build(spec, device="cpu"), folder / "ck", spec, dataset="digits")


def _bad_weights(tmp_path: Path) -> list[tuple[str, Path, str]]:
    """(case, weights file, what the message must say)."""
    (tmp_path / "notes.pt").write_text("hello, these are not weights\n")
    (tmp_path / "empty.pt").write_bytes(b"")
    out = [("a text file named .pt", tmp_path / "notes.pt", "notes.pt: not a PyTorch weights file"),
           ("an empty .pt", tmp_path / "empty.pt", "empty.pt: the file is empty")]
    for i, (text, needle) in enumerate(SIDECARS):
        st, js = _checkpoint(tmp_path / f"side{i}")
        js.write_text(text)
        out.append((f"sidecar {text!r}", st, needle))
    return out


def test_models_load_weights_refuses_each_bad_file_in_the_banner(models_ws, qtbot, monkeypatch, tmp_path):
    ws = models_ws
    before = ws._builder_view.kernels["blocks.0.conv"].copy()
    for case, file, needle in _bad_weights(tmp_path):
        answer_open(monkeypatch, file)
        ws.choose_weights()  # Load weights… (Ctrl+O) -> the dialog answers with the bad file
        qtbot.waitUntil(lambda: ws.banner.isVisible() and f"Could not load {file.name}" in ws.banner.text()
                        and not ws.busy(), timeout=20000)
        text = ws.banner.text()
        assert needle in text, (case, text)
        no_traceback(text)
        assert "101" not in text and "KeyError" not in text
        assert ws.weights_label.text() == "none (random)" and ws.current_spec().weights is None, case
        assert np.array_equal(ws._builder_view.kernels["blocks.0.conv"], before), case
        ws.banner.hide()


def test_models_open_model_refuses_bad_files_and_sidecars_in_the_banner(models_ws, qtbot, monkeypatch, tmp_path):
    """"Your model" (Ctrl+Shift+O) reads a state dict's sidecar for its architecture: each damaged sidecar, a text
    file named .pt and a sidecar declaring widths [100000, 100000] are messages in its banner; nothing is added."""
    ws = models_ws
    monkeypatch.setattr(ws.own, "ask_input", lambda *a: pytest.fail("asked for an input spec of a bad file"))
    st, js = _checkpoint(tmp_path / "huge")
    side = json.loads(js.read_text())
    side["architecture"]["options"]["widths"] = [100000, 100000]
    js.write_text(json.dumps(side))
    cases = _bad_weights(tmp_path) + [("sidecar widths [100000, 100000]", st, "over the limit")]
    own = {"notes.pt": "notes.pt: not a model file: it is a text file",
           "empty.pt": "empty.pt: not a model file: it is an empty file"}
    for case, file, needle in cases:
        needle = own.get(file.name, needle)
        answer_open(monkeypatch, file)
        ws.open_model()  # Open model… -> the dialog answers with the bad file
        qtbot.waitUntil(lambda: not ws.own.busy(), timeout=30000)
        text = ws.own.banner.text()
        assert ws.own.banner.isVisibleTo(ws.own) and text.startswith("Could not open the model:"), (case, text)
        assert file.name in text or Path(file).with_suffix(".json").name in text, (case, text)
        assert needle in text, (case, text)
        no_traceback(text)
        assert "101" not in text and ws.session.models == {}, case
    assert "FILTER_EXPLORER_LIMITS=off" in text


def _typed_option_banner(ws, qtbot, option: str, text: str) -> str:
    """Type ``text`` into the builder's free-text ``option`` field as a user does; the banner's text once shown."""
    w = ws.option_widget(option)
    w.setText(text)
    w.textEdited.emit(w.text())
    qtbot.waitUntil(lambda: ws.banner.isVisible() and not ws.busy(), timeout=20000)
    return ws.banner.text()


def test_models_builder_option_over_the_parameter_limit_is_refused_in_the_banner(models_ws, qtbot):
    """Widths typed as free text ("100000, 100000": 90 billion parameters): the limit, before anything is
    allocated; the last good model stays shown."""
    ws = models_ws
    before = ws._builder_view
    text = _typed_option_banner(ws, qtbot, "widths", "100000, 100000")
    assert "simple" in text and "widths=(100000, 100000)" in text and "over the limit of 1,000,000,000" in text, text
    assert "nothing was allocated" in text and "FILTER_EXPLORER_LIMITS=off" in text
    no_traceback(text)
    assert ws._builder_view is before and ws.table.rowCount() == 2


def test_models_rdsn_k_cannot_be_typed_past_its_range(models_ws, qtbot):
    """``k=1e9`` cannot be typed in the GUI: the spin box stops at 1,000,000 (116 M parameters, under the limit)."""
    ws = models_ws
    ws.backbone.setCurrentIndex(ws.backbone.findData("rdsn"))
    qtbot.waitUntil(lambda: not ws.busy(), timeout=60000)
    k = ws.option_widget("k")
    _type_into_spin(qtbot, k, "1000000000")
    assert k.maximum() == 1_000_000 and k.value() <= 1_000_000


def test_models_rdsn_rotation_views_out_of_range_is_refused_in_the_banner(models_ws, qtbot):
    """rotation views of 60 degrees (the option takes 0 to 45): rdsn's own message in the banner, no traceback; the
    last good model stays shown."""
    ws = models_ws
    ws.backbone.setCurrentIndex(ws.backbone.findData("rdsn"))
    qtbot.waitUntil(lambda: not ws.busy() and ws.option_widget("rotation_views") is not None, timeout=60000)
    before = ws._builder_view
    text = _typed_option_banner(ws, qtbot, "rotation_views", "60")
    assert "rotation_views must be 0 (off) to 45 degrees, got 60" in text, text
    no_traceback(text)
    assert ws._builder_view is before


def test_models_patches_choices_are_lists_and_a_bad_fraction_is_refused_in_the_banner(models_ws, qtbot):
    """The patches backbone's filter source and padding are lists (a free field let a typo through to a build
    error); the nearest encoder's fraction typed as 1.5: the backbone's own message, the last good model kept."""
    from PySide6.QtWidgets import QComboBox

    ws = models_ws
    ws.backbone.setCurrentIndex(ws.backbone.findData("patches"))
    qtbot.waitUntil(lambda: not ws.busy() and ws.option_widget("fraction") is not None, timeout=60000)
    source = ws.option_widget("source")
    assert isinstance(source, QComboBox) and [source.itemText(i) for i in range(source.count())] == \
        ["patches", "kmeans"]
    assert "Thiry" in source.toolTip() and "Coates" in source.toolTip()
    assert isinstance(ws.option_widget("padding"), QComboBox)
    before = ws._builder_view
    text = _typed_option_banner(ws, qtbot, "fraction", "1.5")
    assert "fraction must be between 0 and 1" in text and "got 1.5" in text, text
    no_traceback(text)
    assert ws._builder_view is before


# =============================================================================================== Experiments
RECIPE = """
name = "bad-{name}"
title = "a recipe with a bad value"
claim = "none"
kind = "probe"
[base]
backbone = "rdsn"
dataset = "digits"
head = "ridge"
pooling = "{pooling}"
train_limit = 100
test_limit = 50
options = {{ k = 8, blocks = 1 }}
[grid]
"options.k" = [8, {k}]
"""


@pytest.fixture
def experiments_ws(qtbot, fe_home, tmp_path):
    from app.experiments.store import Store
    from widgets.application import make_app
    from widgets.experiments.workspace import ExperimentsWorkspace

    make_app()
    ws = ExperimentsWorkspace(store=Store(tmp_path / "exp.sqlite"))
    qtbot.addWidget(ws)
    ws.show()
    yield ws
    ws.shutdown()


def test_experiments_recipe_with_rdsn_k_1e9_fails_that_cell_with_the_limit(experiments_ws, dialogs, qtbot,
                                                                           monkeypatch, tmp_path):
    """A recipe is free text: ``k = 1e9`` (a float in TOML) reaches the build and is refused there, before
    allocating, with the project's message (the option, the limit, the override); the other cell runs."""
    ws = experiments_ws
    recipe = tmp_path / "k.toml"
    recipe.write_text(RECIPE.format(name="k", pooling="gap", k="1e9"))
    answer_open(monkeypatch, recipe)
    ws.open_file()
    assert not dialogs and ws.recipe is not None
    ws.quick.setChecked(False)
    ws.executor.setCurrentText("inline")
    ws.run()
    qtbot.waitUntil(lambda: not ws.is_running(), timeout=120_000)
    assert ws.result is not None and ws.result.failed == 1, ws.status.text()
    assert "1 failed" in ws.status.text()
    (bad,) = [c for c in ws._cells if "error" in (ws._results.get(c["key"]) or {})]
    err = ws._results[bad["key"]]["error"]
    assert "rdsn (" in err and "k=1000000000) would have" in err and "over the limit of 1,000,000,000" in err, err
    assert "FILTER_EXPLORER_LIMITS=off" in err and "empty()" not in err
    no_traceback(err)
    row = [i for i, c in enumerate(ws._cells) if c["key"] == bad["key"]][0]
    assert ws.table.item(row, 2).text() == "failed" and ws.table.item(row, 2).toolTip() == err


def test_experiments_recipe_with_pooling_grid100000_is_refused(experiments_ws, dialogs, qtbot, monkeypatch,
                                                               tmp_path):
    ws = experiments_ws
    recipe = tmp_path / "grid.toml"
    recipe.write_text(RECIPE.format(name="grid", pooling="grid100000", k="16"))
    answer_open(monkeypatch, recipe)
    ws.open_file()
    assert not dialogs and ws.recipe is not None  # read as written; each cell is refused when it runs
    ws.quick.setChecked(False)
    ws.executor.setCurrentText("inline")
    ws.run()
    qtbot.waitUntil(lambda: not ws.is_running(), timeout=120_000)
    assert ws.result is not None and ws.result.failed == 2 and "2 failed" in ws.status.text(), ws.status.text()
    for row, cell in enumerate(ws._cells):
        text = ws._results[cell["key"]]["error"]
        assert "grid100000" in text and "N = 1..16" in text, text
        no_traceback(text)
        assert ws.table.item(row, 2).text() == "failed" and ws.table.item(row, 2).toolTip() == text


# =============================================================================================== Probe (datasets)
@pytest.fixture
def probe_ws(qtbot, fe_home, tmp_path):
    from widgets.application import make_app
    from widgets.probe.workspace import ProbeWorkspace

    make_app()
    ws = ProbeWorkspace(Session(), QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(ws)
    ws.resize(1400, 860)
    ws.show()
    _browser_idle(qtbot, ws.browser)
    yield ws
    ws.shutdown()


def _browser_idle(qtbot, b, timeout=30000):
    qtbot.waitUntil(lambda: not b.is_busy() and not b._debounce.isActive() and not b._initial, timeout=timeout)


def _bad_roots(tmp_path: Path) -> list[tuple[str, str, Path, str]]:
    """(case, dataset, data root, what the message must say): the bad MNIST / CIFAR copies of issue #15."""
    import struct

    from fixtures_data import idx_bytes

    over = tmp_path / "overflow"
    head = struct.pack(">HBB", 0, 8, 3) + struct.pack(">III", 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)
    for prefix in ("train", "t10k"):
        _idx_gz(over / "MNIST" / "raw", f"{prefix}-images-idx3-ubyte", head + b"\0" * 100)
        _idx_gz(over / "MNIST" / "raw", f"{prefix}-labels-idx1-ubyte", idx_bytes(np.zeros(2, np.uint8)))
    cut = tmp_path / "truncated"
    head = struct.pack(">HBB", 0, 8, 3) + struct.pack(">III", 1000, 28, 28)
    for prefix in ("train", "t10k"):
        _idx_gz(cut / "MNIST" / "raw", f"{prefix}-images-idx3-ubyte", head + b"\0" * 100)
        _idx_gz(cut / "MNIST" / "raw", f"{prefix}-labels-idx1-ubyte", idx_bytes(np.zeros(1000, np.uint8)))
    _mnist(tmp_path / "labels", np.zeros((3, 28, 28), np.uint8), np.array([1, 12, 200], np.uint8))
    _mnist(tmp_path / "empty", np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8))
    data = np.zeros((4, 3072), np.uint8)
    _cifar_py(tmp_path / "cifar-text", {"data": data, "labels": ["a", "b", "c", "d"]})
    _cifar_py(tmp_path / "cifar-float", {"data": data, "labels": np.zeros(4, np.float32)})
    _cifar_py(tmp_path / "cifar-size", {"data": data, "labels": [0, 1]})
    _cifar_py(tmp_path / "cifar-range", {"data": data, "labels": [0, 1, 2, 10]})
    return [
        ("MNIST header whose dimensions overflow", "mnist", over,
         "train-images-idx3-ubyte.gz: the declared shape (4294967295, 4294967295, 4294967295) takes"),
        ("MNIST header longer than its data", "mnist", cut, "truncated: header says (1000, 28, 28)"),
        ("MNIST labels out of range", "mnist", tmp_path / "labels",
         "train-labels-idx1-ubyte: 2 label(s) outside 0..9 (the first at index 1: 12)"),
        ("MNIST with 0 images", "mnist", tmp_path / "empty", "holds no images"),
        ("CIFAR labels of text", "cifar10", tmp_path / "cifar-text",
         "the labels must be a list of integers (got list)"),
        ("CIFAR labels of floats", "cifar10", tmp_path / "cifar-float",
         "the labels must be a list of integers (got ndarray of float32)"),
        ("CIFAR labels of the wrong size", "cifar10", tmp_path / "cifar-size", "4 images but 2 labels"),
        ("CIFAR labels out of range", "cifar10", tmp_path / "cifar-range", "labels outside 0..9"),
    ]


def _choose(ws, name: str) -> None:
    combo = ws.browser.combo
    i = combo.findData(name)
    assert i >= 0, name
    combo.setCurrentIndex(i)


def test_probe_data_folder_with_bad_mnist_or_cifar_copies_says_what_is_wrong(probe_ws, qtbot, monkeypatch,
                                                                             tmp_path):
    """Data folder… picks a folder holding a damaged MNIST / CIFAR-10: the browser names the file and the fault
    (offering to download it again), and Train refuses with the same message in the banner; no run is stored."""
    ws, b = probe_ws, probe_ws.browser
    for case, dataset, root, needle in _bad_roots(tmp_path):
        answer_folder(monkeypatch, root)
        b.root_btn.click()  # Data folder… -> the dialog answers with the damaged copy
        _choose(ws, dataset)
        _browser_idle(qtbot, b)
        text = b.error_text()
        assert text.startswith(f"Cannot load {dataset}:") and needle in text, (case, text)
        assert b.status.text() == text and b.status.isVisible()
        no_traceback(text)
        assert b.current_dataset() is None
    # Train on the last two: the run is refused with the reason, the workspace keeps working
    for _case, dataset, root, needle in _bad_roots(tmp_path)[2:4]:
        answer_folder(monkeypatch, root)
        b.root_btn.click()
        _choose(ws, dataset)
        _browser_idle(qtbot, b)
        with qtbot.waitSignal(ws.batchDone, timeout=60_000):
            qtbot.mouseClick(ws.train_btn, Qt.MouseButton.LeftButton)
        assert ws.banner.isVisible() and needle in ws.banner.text(), ws.banner.text()
        no_traceback(ws.banner.text())
        assert ws.history_table.table.rowCount() == 0 and ws.train_btn.isEnabled()


def test_probe_image_folder_with_a_bomb_dangling_link_loop_and_non_utf8_name_loads_naming_them(
        probe_ws, qtbot, monkeypatch, tmp_path):
    """The README's promise: unreadable images are skipped and named; the folder loads."""
    ws, b = probe_ws, probe_ws.browser
    folder = image_folder(tmp_path / "pics", classes=("a", "b"), per_class=4)
    (folder / "a" / "bomb.png").write_bytes(_png_header(20000, 20000))
    os.symlink(folder / "nowhere.png", folder / "a" / "dangling.png")
    os.symlink(folder / "b" / "self.png", folder / "b" / "self.png")
    os.symlink(folder / "b", folder / "b" / "again")
    with open(os.path.join(os.fsencode(folder / "b"), b"caf\xe9.png"), "wb") as f:
        f.write((folder / "b" / "000.png").read_bytes())
    answer_folder(monkeypatch, folder)
    b.combo.setCurrentIndex(b.combo.findText("Image folder…"))  # -> the folder dialog answers
    _browser_idle(qtbot, b)
    assert ws.dataset_name() == f"imagefolder:{folder}" and b.error_text() == ""
    assert b.current_dataset() is not None and b.current_view().classes == ("a", "b")
    text, tip = b.status.text(), b.status.toolTip()
    assert "note(s)" in text
    for needle in ("a/bomb.png: 20000x20000 = 400,000,000 pixels is over the image limit",
                   "a/dangling.png: a dangling symlink, skipped", "b/self.png: a symlink loop, skipped",
                   "b/again: a folder already read", "the file name is not valid UTF-8, skipped"):
        assert needle in tip, (needle, tip)
    no_traceback(tip)


def test_probe_pooling_is_a_list_that_cannot_hold_grid100000(probe_ws, qtbot, tmp_path):
    """``--pooling grid100000`` cannot be chosen: the pooling is a combo box of bounded grids; a settings file
    holding it is not taken."""
    from widgets.probe.workspace import ProbeWorkspace

    pooling = probe_ws.probe_settings.pooling
    items = [pooling.itemData(i) for i in range(pooling.count())]
    assert "grid100000" not in items and pooling.isEditable() is False
    s = QSettings(str(tmp_path / "bad.ini"), QSettings.Format.IniFormat)
    s.setValue("probe/pooling", "grid100000")
    ws = ProbeWorkspace(Session(), s)
    qtbot.addWidget(ws)
    try:
        assert ws.probe_settings.pooling_value() in items and ws.probe_settings.pooling_value() != "grid100000"
    finally:
        ws.shutdown()


def test_models_train_on_bad_labels_or_no_images_fails_with_the_reason_and_saves_nothing(
        models_ws, qtbot, monkeypatch, tmp_path):
    """Train… on an MNIST copy (the data folder) with labels out of range or 0 images: "Training failed" with the
    file and the fault; no 0.00% checkpoint, nothing added to the session."""
    from app import paths

    ws = models_ws
    cases = [("labels", np.zeros((3, 28, 28), np.uint8), np.array([1, 12, 200], np.uint8),
              "train-labels-idx1-ubyte: 2 label(s) outside 0..9"),
             ("empty", np.zeros((0, 28, 28), np.uint8), np.zeros(0, np.uint8), "holds no images")]
    for name, images, labels, needle in cases:
        _mnist(tmp_path / name, images, labels)
        monkeypatch.setenv("FILTER_EXPLORER_DATA", str(tmp_path / name))
        ws.open_train()
        dlg = ws.train_dialog
        dlg.dataset.setCurrentIndex(dlg.dataset.findData("mnist"))
        dlg.epochs.setValue(1)
        qtbot.mouseClick(dlg.start_btn, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not dlg.is_running(), timeout=60_000)
        text = dlg.status.text()
        assert "Training failed" in text and needle in text, (name, text)
        no_traceback(text)
        assert ws.session.models == {} and dlg.start_btn.isEnabled()
        saved = list((paths.user_files() / "models").glob("**/*.safetensors"))
        assert saved == [], saved
    ws.train_dialog.close()


# =============================================================================================== Live
def _png(path: Path, colour, size=(20, 30)) -> None:
    import cv2

    img = np.zeros(size + (3,), np.uint8)
    img[:] = colour
    cv2.imwrite(str(path), img)


@pytest.fixture
def live_ws(qtbot, fe_home, tmp_path):
    from app.models.spec import ModelSpec
    from widgets.application import make_app
    from widgets.live.workspace import LiveWorkspace

    make_app()
    s = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    s.setValue("live/source", "synthetic")
    s.setValue("live/size", "60x80")
    s.setValue("live/panes", json.dumps([{"label": "tiny", "layer": 1, "page": 0}]))
    session = Session()
    session.put_model("tiny", ModelSpec.make("simple", label="tiny", options={"widths": (4, 6)}))
    ws = LiveWorkspace(session, s)
    qtbot.addWidget(ws)
    ws.resize(900, 500)
    ws.show()
    qtbot.waitExposed(ws)
    yield ws
    ws.shutdown()


def _frames(qtbot, ws, n=2):
    start = ws._frames_shown
    qtbot.waitUntil(lambda: ws._frames_shown >= start + n, timeout=60000)


def _choose_image_folder(ws, monkeypatch, folder: Path) -> None:
    """Source: Image / folder… -> the folder dialog answers with ``folder``."""
    answer_folder(monkeypatch, folder)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: pytest.fail("asked for a file"))
    c = ws.controls
    c.source_combo.setCurrentIndex(c.source_combo.findData("image"))


def test_live_image_folder_whose_first_file_is_unreadable_is_shown_naming_the_skipped(live_ws, qtbot, monkeypatch,
                                                                                     tmp_path):
    ws = live_ws
    ws.set_active(True)
    _frames(qtbot, ws)
    folder = tmp_path / "pics"
    folder.mkdir()
    (folder / "0_broken.png").write_bytes(b"not a png at all")
    (folder / "1_bomb.png").write_bytes(_png_header(20000, 20000))
    (folder / "2_dangling.png").symlink_to(folder / "nowhere.png")
    _png(folder / "3_red.png", (0, 0, 255))
    _choose_image_folder(ws, monkeypatch, folder)
    qtbot.waitUntil(lambda: "pics" in ws.input.source_label.text() and ws.source_ok and ws._last is not None
                    and "unreadable" in ws._last.source, timeout=60000)
    _frames(qtbot, ws)
    shown = ws.input.source_label.text()  # what the user reads above the input picture
    assert "3 unreadable, skipped: 0_broken.png, 1_bomb.png, 2_dangling.png" in shown, shown
    assert ws.input.view.has_image() and ws.status_level != "error"
    no_traceback(ws.status.text())


def test_live_image_folder_with_nothing_readable_is_an_error_and_live_keeps_running(live_ws, qtbot, monkeypatch,
                                                                                   tmp_path):
    ws = live_ws
    ws.set_active(True)
    _frames(qtbot, ws)
    folder = tmp_path / "junk"
    folder.mkdir()
    for name in ("a.png", "b.jpg"):
        (folder / name).write_bytes(b"junk")
    _choose_image_folder(ws, monkeypatch, folder)
    qtbot.waitUntil(lambda: ws.status_level == "error" and "can be read" in ws.status.text(), timeout=60000)
    text = ws.status.text()
    assert "None of the 2 images in" in text and "(a.png, b.jpg)" in text, text
    no_traceback(text)
    assert not ws.input.view.has_image()
    # the user picks something else: it plays again
    ws.controls.source_combo.setCurrentIndex(ws.controls.source_combo.findData("synthetic"))
    qtbot.waitUntil(lambda: ws.source_ok and ws.status_level != "error", timeout=30000)
    _frames(qtbot, ws)


@pytest.mark.parametrize("saved", [-1, "abc"])
def test_live_camera_index_minus_one_cannot_be_chosen(qtbot, fe_home, tmp_path, saved):
    """The camera index is a spin box from 0; a settings file holding -1 (or text) gives camera 0, no crash."""
    from widgets.application import make_app
    from widgets.live.workspace import LiveWorkspace

    make_app()
    s = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    s.setValue("live/source", "camera")
    s.setValue("live/camera", saved)
    ws = LiveWorkspace(Session(), s)  # not activated: no camera is opened
    qtbot.addWidget(ws)
    try:
        spin = ws.controls.camera_spin
        assert spin.minimum() == 0 and spin.value() == 0
        _type_into_spin(qtbot, spin, "-1")
        assert spin.value() >= 0 and ws.controls.source_config().camera >= 0
    finally:
        ws.shutdown()


def test_models_timm_weights_given_as_an_address_is_not_downloaded_and_says_so(models_ws, qtbot, monkeypatch):
    """The GUI has no download address field (Download uses the datasets' built-in addresses); the one free-text
    weights field, in "Open a timm architecture", takes a local file: an address typed there is refused as a file
    that is not there, never fetched, and nothing is added."""
    from PySide6.QtWidgets import QDialog

    import app.models.external.formats as formats
    from widgets.models.open_model import TimmDialog

    ws = models_ws
    monkeypatch.setattr(formats, "check_timm", lambda name: None)  # as if the timm extra were installed
    for typed in ("notaurl", "https://example.org/w.pth"):
        def answer(dlg, typed=typed):
            dlg.name.setText("resnet18")
            dlg.weights.setText(typed)
            return QDialog.DialogCode.Accepted

        monkeypatch.setattr(TimmDialog, "exec", answer)
        ws.own.choose_timm()
        qtbot.waitUntil(lambda: not ws.own.busy(), timeout=30000)
        text = ws.own.banner.text()
        assert ws.own.banner.isVisibleTo(ws.own) and "no such file (the weights of timm:resnet18)" in text, text
        assert Path(typed).name in text
        no_traceback(text)
        assert ws.session.models == {}


# ============================================================================ weights that went bad, in Probe and Live
def _gone_bad(tmp_path: Path) -> list[tuple[str, "object", str]]:
    """Session models whose weights file was damaged after it was added (Probe and Live open weights only through
    the session and the shipped zoo): (case, spec, what the message must say)."""
    from app.models.spec import ModelSpec

    out = []
    for case, file, needle in _bad_weights(tmp_path):
        spec = ModelSpec.make("simple", label=f"bad {file.parent.name}/{file.name}",
                              options={"in_channels": 1, "widths": [4, 8]}, init="checkpoint", weights=str(file),
                              weight_state="trained")
        out.append((case, spec, needle))
    return out


def test_probe_on_a_model_whose_weights_went_bad_says_so_in_the_banner(probe_ws, qtbot, tmp_path):
    ws = probe_ws
    from test_probe_gui import click_check, uncheck_all

    cases = _gone_bad(tmp_path)
    for _case, spec, _needle in cases:
        ws.session.put_model(spec.label, spec)
    qtbot.waitUntil(lambda: all(ws.models.item_for(s.label) is not None for _c, s, _n in cases), timeout=10000)
    ws.browser.subset_size = 100
    ws.probe_settings.test_limit.setValue(50)
    for case, spec, needle in cases:
        uncheck_all(qtbot, ws)
        click_check(qtbot, ws, spec.label)
        with qtbot.waitSignal(ws.batchDone, timeout=60_000):
            qtbot.mouseClick(ws.train_btn, Qt.MouseButton.LeftButton)
        text = ws.banner.text()
        assert ws.banner.isVisible() and "failed" in text and needle in text, (case, text)
        no_traceback(text)
        assert "KeyError" not in text and ws.history.list() == [], case


def test_live_pane_on_a_model_whose_weights_went_bad_shows_why(live_ws, qtbot, tmp_path):
    ws = live_ws
    ws.set_active(True)
    _frames(qtbot, ws)
    for case, spec, needle in _gone_bad(tmp_path)[::3]:  # a text file, a damaged sidecar
        ws.session.put_model(spec.label, spec)
        pane = ws.panes[0]
        qtbot.waitUntil(lambda: pane.model_combo.findText(spec.label) >= 0, timeout=10000)
        pane.model_combo.setCurrentIndex(pane.model_combo.findText(spec.label))
        qtbot.waitUntil(lambda: pane.error is not None and needle in pane.info.text(), timeout=60000)
        no_traceback(pane.info.text())
        assert not pane.view.has_image() and ws.input.view.has_image(), case  # the input keeps playing


def test_insight_cka_on_a_model_whose_weights_went_bad_says_why(qtbot, fe_home, tmp_path):
    from widgets.analysis.workspace import InsightWorkspace
    from widgets.application import make_app

    make_app()
    session = Session()
    cases = _gone_bad(tmp_path)[::3]  # a text file, a damaged sidecar
    for _case, spec, _needle in cases:
        session.put_model(spec.label, spec)
    ws = InsightWorkspace(session, QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(ws)
    ws.resize(1200, 800)
    ws.show()
    try:
        p = ws.cka
        for case, spec, needle in cases:
            assert p.model_a.select(spec.label) and p.model_b.select(spec.label)
            p.n.setValue(40)
            qtbot.mouseClick(p.bar.run_btn, Qt.MouseButton.LeftButton)
            qtbot.waitUntil(lambda: not p.bar.busy() and p.bar.status.text().startswith("failed:"), timeout=60_000)
            text = p.bar.status.text()
            assert needle in text, (case, text)
            no_traceback(text)
            assert p.result is None and p.bar.run_btn.isEnabled()
    finally:
        ws.shutdown()


def test_live_image_over_the_pixel_limit_is_refused_before_decoding(live_ws, qtbot, monkeypatch, tmp_path):
    """Live's image source decodes through the pixel cap (it called cv2.imread: a real 389 KB PNG of 20000x20000
    decoded to 1.2 GB). With the cap set to 100 pixels, a 20x30 PNG is skipped and named in a folder, and alone it
    is refused with the limit's message; a 5x5 one plays."""
    from app.data import limits

    monkeypatch.setattr(limits, "MAX_IMAGE_PIXELS", 100)
    ws = live_ws
    ws.set_active(True)
    _frames(qtbot, ws)
    folder = tmp_path / "pics"
    folder.mkdir()
    _png(folder / "a_big.png", (0, 0, 255), (20, 30))
    _png(folder / "b_small.png", (0, 255, 0), (5, 5))
    _choose_image_folder(ws, monkeypatch, folder)
    qtbot.waitUntil(lambda: "1 unreadable, skipped: a_big.png" in ws.input.source_label.text(), timeout=60000)
    _frames(qtbot, ws)
    assert tuple(ws._last.frame[0, 0]) == (0, 255, 0) and ws.source_ok  # the small one, in green
    ws.set_source("image", str(folder / "a_big.png"))
    qtbot.waitUntil(lambda: ws.status_level == "error" and "a_big.png" in ws.status.text(), timeout=60000)
    text = ws.status.text()
    assert "a_big.png: 30x20 = 600 pixels is over the image limit of 100 pixels" in text, text
    assert "FILTER_EXPLORER_LIMITS=off" in text
    no_traceback(text)


def test_live_dataset_samples_from_a_damaged_mnist_copy_say_what_is_wrong(live_ws, qtbot, monkeypatch, tmp_path):
    ws = live_ws
    _mnist(tmp_path / "root", np.zeros((3, 28, 28), np.uint8), np.array([1, 12, 200], np.uint8))
    monkeypatch.setenv("FILTER_EXPLORER_DATA", str(tmp_path / "root"))
    ws.set_active(True)
    _frames(qtbot, ws)
    c = ws.controls
    c.dataset_combo.setCurrentText("mnist")
    c.source_combo.setCurrentIndex(c.source_combo.findData("dataset"))
    qtbot.waitUntil(lambda: ws.status_level == "error" and "label(s)" in ws.status.text(), timeout=60000)
    text = ws.status.text()
    assert "2 label(s) outside 0..9" in text and "labels-idx1-ubyte" in text, text
    no_traceback(text)
    assert not ws.input.view.has_image()
