"""An audit of what the Kernels, Models and Live views say (2026-12-03): figures rounded to 100% or 0% that are
not, an image size claimed that was not used, tooltips that describe another option or another split."""

from __future__ import annotations

import pytest
import torch


def test_live_never_rounds_a_share_to_100_or_0_that_is_not():
    """A map with 996 zeros of 1,000 read "zeros 100%" (dead, it looked); a class at 99.71% read "100%"."""
    from app.live.config import Prediction
    from app.live.predict import top_k
    from app.live.stats import map_stats

    x = torch.zeros(10, 10, 10)
    x.view(-1)[:4] = 1.0
    assert map_stats(x).describe().startswith("zeros 99.6% · ")
    y = torch.ones(10, 10, 10)
    y.view(-1)[:4] = 0.0
    assert map_stats(y).describe().startswith("zeros 0.4% · ")
    assert map_stats(torch.zeros(4, 5, 5)).describe().startswith("zeros 100% · ")  # all zero: 100% it is
    top = top_k([9.0, 3.0, 1.0, 0.0], ("seven", "one", "two", "three"))
    assert Prediction("m", top).describe() == "seven 99.7%  one 0.2%  two 0.03%  three 0.01%"
    assert Prediction("m", (("a", 0.5), ("b", 0.5))).describe() == "a 50%  b 50%"


def test_the_preview_shape_is_what_preview_gives():
    import numpy as np

    from app.kernels import ops

    for h, w, side in ((48, 64, 256), (480, 640, 256), (1000, 10, 96), (96, 96, 96)):
        assert ops.preview(np.zeros((h, w, 3), np.uint8), side).shape[:2] == ops.preview_shape(h, w, side)
    assert ops.preview_shape(48, 64, 256) == (48, 64) and ops.preview_shape(480, 640, 256) == (192, 256)


def test_model_option_tooltips_say_what_the_option_does():
    """rdsn's pool was described as "2x2 pooling after each layer ... or none" (it pools the last maps into features,
    avg or max; none is refused) and its kernel_size as "one per layer" (one value); an empty resnet expansion said
    "(default: automatic)" where it means plain 3x3 convolutions."""
    from app.models import registry

    fields = {f.name: f for f in registry.option_fields("rdsn")}
    assert "none" not in fields["pool"].tooltip and "pool_grid" in fields["pool"].tooltip
    assert "one per layer" not in fields["kernel_size"].tooltip
    exp = {f.name: f for f in registry.option_fields("resnet20")}["expansion"]
    assert exp.tooltip.endswith("(default: none: plain 3x3 convolutions)") and exp.empty.startswith("none")
    assert {f.name: f for f in registry.option_fields("simple")}["widths"].empty == "automatic"  # the others as were


@pytest.mark.gui
def test_the_train_dialog_says_the_test_split_is_scored_once(qtbot, fe_home, tmp_path):
    """Its dataset's tooltip said the test split was scored after every epoch (validation is; test once, at the end,
    as app.models.train does and the dialog's own "Test images" tooltip says)."""
    from PySide6.QtCore import QSettings

    from app.session import Session
    from widgets.models.train_dialog import TrainDialog

    dlg = TrainDialog(Session(), QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(dlg)
    tip = dlg.dataset.toolTip()
    assert "validation split is scored after every epoch" in tip and "test split once, at the end" in tip
    dlg.close()


def test_a_traced_models_convolutions_are_listed_with_their_own_stride_and_groups(tmp_path):
    """A traced TorchScript conv keeps no stride or groups attribute: a depthwise stride-2 conv was listed
    "conv 1->8 3x3 stride 1" (its weight's 1 input channel per group read as the input channels)."""
    import argparse
    import warnings

    from torch import nn

    from app.cliargs import add_model_arguments
    from app.models import viz
    from app.models.build import build
    from app.models.spec_args import spec_from_args

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(),
                        nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8), nn.ReLU(), nn.Conv2d(8, 4, 1)).eval()
    path = tmp_path / "traced.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.trace(net, torch.zeros(1, 3, 32, 32)), str(path))
    p = argparse.ArgumentParser()
    add_model_arguments(p)
    spec = spec_from_args(p.parse_args(["--model", str(path), "--input-size", "32", "--input-preset", "imagenet"]))
    rows = [(r.kind, r.in_channels, r.out_channels, r.kernel, r.stride) for r in viz.layer_rows(build(spec))
            if "conv" in r.kind]
    assert rows == [("conv", 3, 8, "3x3", 2), ("depthwise conv", 8, 8, "3x3", 2), ("1x1 conv", 8, 4, "1x1", 1)]
    assert [(r.kind, r.stride) for r in viz.layer_rows(net) if "conv" in r.kind] == [(k, s) for k, *_, s in rows]


@pytest.mark.gui
def test_the_training_curve_draws_the_test_figure_apart_from_validation(qtbot, fe_home, tmp_path):
    """A run with no validation split (--val 0) drew its test accuracy on the "validation (per epoch)" curve."""
    import types

    from PySide6.QtCore import QSettings

    from app.session import Session
    from app.tasks import Progress
    from widgets.models.train_dialog import TrainDialog

    dlg = TrainDialog(Session(), QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(dlg)
    dlg._reset_plots()

    def epoch(step, val, test):
        return Progress(done=step, total=20, message="", payload=types.SimpleNamespace(
            kind="epoch", step=step, loss=1.0, train_acc=0.5, val_acc=val, test_acc=test))

    for rec in (epoch(10, None, None), epoch(20, None, 0.9)):  # no validation split: the test split at the end
        dlg._plot_report(rec)
    dlg._redraw()
    assert len(dlg.test_curve.getData()[0] or []) == 0
    assert list(dlg.end_curve.getData()[1]) == [0.9] and list(dlg.end_curve.getData()[0]) == [20]
    dlg._reset_plots()
    for rec in (epoch(10, 0.7, None), epoch(20, 0.8, 0.85)):  # a validation split: two points, and the test one
        dlg._plot_report(rec)
    dlg._redraw()
    assert list(dlg.test_curve.getData()[1]) == [0.7, 0.8] and list(dlg.end_curve.getData()[1]) == [0.85]
    dlg.close()


def test_an_opened_torchscript_models_strides_come_from_its_graph(tmp_path):
    """The stride of an opened model's maps (Live's layer menu, its default layer) was the input's rows over the
    map's: LeNet-5's valid convolutions read c3 stride 3, s4 6, c5 32 (2, 4, 4). Now from the strides of the
    convolutions, poolings and strided slices on the way (``graph_strides``), the ratio only where the graph
    cannot say."""
    import argparse
    import warnings

    from app.cliargs import add_model_arguments
    from app.models.build import build, create_model
    from app.models.spec_args import spec_from_args

    def opened(name, opts, c, hw):
        torch.manual_seed(0)
        reg = create_model(name, opts).eval()
        path = tmp_path / f"{name}.pt"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.jit.save(torch.jit.trace(reg, torch.zeros(1, c, hw, hw)), str(path))
        p = argparse.ArgumentParser()
        add_model_arguments(p)
        args = p.parse_args(["--model", str(path), "--input-size", str(hw), "--mean", "0.5", "--std", "0.25"])
        return reg, {i.name: i.stride for i in build(spec_from_args(args)).feature_info}

    reg, got = opened("lenet5", {}, 1, 32)
    assert {k: got[f"convnet.{k}"] for k in ("c1", "s2", "c3", "s4", "c5")} == \
        {i.name: i.stride for i in reg.feature_info} == {"c1": 1, "s2": 2, "c3": 2, "s4": 4, "c5": 4}
    reg, got = opened("resnet20", {}, 3, 32)  # same padding, option-A shortcuts (strided slices): 1, 2, 4
    assert {k: got[k] for k in ("layer1.2", "layer2.0", "layer3.2")} == {"layer1.2": 1, "layer2.0": 2, "layer3.2": 4}
    assert got["layer2.0.conv1"] == 2 and set(got.values()) == {1, 2, 4}


def test_an_eager_models_strides_are_measured_with_a_second_forward():
    """The same for an eager module (an ONNX file through onnx2torch, a pickled model): the strides measured by a
    forward with more rows; a head that wants the first size fails that forward after the maps were measured."""
    from app.models.build import create_model
    from app.models.external.discover import discover_eager

    torch.manual_seed(0)
    reg = create_model("lenet5", {}).eval()  # its classifier takes only 32 x 32 inputs
    taps = discover_eager(reg, torch.zeros(1, 1, 32, 32))[0]
    got = {t.path.removeprefix("convnet."): t.stride for t in taps}
    assert {k: got[k] for k in ("c1", "s2", "c3", "s4", "c5")} == {i.name: i.stride for i in reg.feature_info}
    reg.train()  # in training mode nothing is run a second time (its batch-norm statistics would move): the ratio
    taps = discover_eager(reg, torch.zeros(1, 1, 32, 32))[0]
    assert {t.path: t.stride for t in taps}["convnet.c3"] == 3


@pytest.mark.gui
def test_a_knn_runs_retrieval_figures_are_shown_with_it(qtbot, fe_home):
    """The k-NN head measures precision@k and mAP of the test images against the training set; no view showed them
    (and no run kept them). The run keeps them; the Probe's Results header shows them."""
    from app.models.spec import ModelSpec
    from app.probe.config import ProbeConfig
    from app.probe.run import run_probe
    from app.tasks import run_to_end
    from widgets.probe.model import RunView
    from widgets.probe.results import ResultsView

    r = run_to_end(run_probe(ProbeConfig(model=ModelSpec.make("simple", "simple"), dataset="digits", head="knn",
                                         train_limit=300, test_limit=100)))
    got = r.settings["retrieval"]
    assert set(got) >= {"precision@1", "precision@10", "mAP"}
    view = RunView.from_dict(r.to_dict())
    assert view.retrieval_text().startswith(f"precision@1 {100 * got['precision@1']:.1f}%")
    results = ResultsView()
    qtbot.addWidget(results)
    results.show_run(view)
    assert "retrieval (test images as queries against the training set): precision@1" in results.header.text()


def test_a_file_rewritten_in_place_with_its_old_mtime_gets_a_new_content_id(tmp_path):
    """``content_id`` (the feature cache's key for an imported model's program) was memoised per (path, size,
    mtime, inode): a file rewritten at the same size with its mtime put back (cp -p, rsync -t) kept its old id, and
    the GUI answered from the feature cache with the old program's features."""
    import hashlib
    import os
    import time

    from app.storage import content_id

    f = tmp_path / "model.pt"
    f.write_bytes(b"A" * 1000)
    before = content_id(f)
    st = f.stat()
    time.sleep(0.01)  # (a ctime that moves: the file systems here count in ns)
    f.write_bytes(b"B" * 1000)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # the old mtime put back
    assert f.stat().st_mtime_ns == st.st_mtime_ns and f.stat().st_size == st.st_size
    assert content_id(f) == hashlib.sha256(b"B" * 1000).hexdigest()[:16] != before
