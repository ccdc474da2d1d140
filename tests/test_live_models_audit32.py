"""An audit of the numbers Live and Models show (session 32), each pinned against a numpy/torch reference or the
exact text a user reads:

1. a ridge or SVM probe head's Top-5 showed a softmax of its scores as if probabilities (a sure ridge head never
   passed ~45% over 10 classes): its raw scores now, said to be scores; logistic heads keep their softmax;
2. the frequency read-out's "<=" bound was false on non-square maps (a 60 px period on a 90x160 map read
   ">= 128 px") and for periods of 1 to 1.75 cycles over a side (a 100 px period on a 128 px map read ">= 128 px");
3. two Live tooltips described another behaviour (the frame squashed to a fixed-size model; FPS as frames shown);
4. Models' "A vs B" std / mean |w| and "|w| up to" came from the first output channels of a big layer only;
5. a TorchScript model's Linear and BatchNorm rows had no channels and the kind "Linear";
6. a recording of a loop under 1 FPS was written at 15 FPS (played 30 times too fast at 0.5 FPS).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from app.live.config import Prediction
from app.live.predict import Predictor, top_k

DIGITS = tuple(str(i) for i in range(10))


# --- 1: probe heads: probabilities only where they are ------------------------------------------------------------
class _Head:
    """What ``open_head`` gives (``HeadApplier``): fixed scores, its ``head`` a ``LiveHead``-like record."""

    def __init__(self, kind: str, scores) -> None:
        self.head = SimpleNamespace(head=kind, size=(8, 8), input=SimpleNamespace(size=None))
        self.classes = DIGITS
        self._scores = np.asarray(scores, np.float32)

    def note(self) -> str:
        return "frame resized to 8x8"

    def title(self) -> str:
        return f"{self.head.head} · simple · conv2 · avg · digits"

    def matches(self, spec) -> bool:
        return True

    def scores(self, images):
        return self._scores[None].repeat(len(images), 0)


# a sure ridge head: +1 for its class (9), about -1 for the others (its one-vs-rest targets)
RIDGE = [-0.95, -1.02, -0.9, -0.8, -0.97, -1.1, -0.99, -1.05, -0.7, 0.84]


def _predict(kind: str, scores) -> Prediction:
    pred = Predictor("cpu", open_head=lambda path, device: _Head(kind, scores))
    return pred.head_prediction("h.json", None, np.zeros((20, 20, 3), np.uint8))


def test_a_ridge_or_svm_head_shows_its_scores_not_a_softmax_of_them():
    for kind in ("ridge", "svm"):
        p = _predict(kind, RIDGE)
        assert p.error is None and p.kind == "head" and p.scores == kind
        order = np.argsort(-np.asarray(RIDGE), kind="stable")[:5]
        assert [n for n, _ in p.top] == [DIGITS[i] for i in order]
        assert [v for _, v in p.top] == pytest.approx([RIDGE[i] for i in order], abs=1e-6)  # the raw scores
        assert p.describe() == "9 score 0.84  8 score -0.7  3 score -0.8  2 score -0.9  0 score -0.95"
        assert p.span == pytest.approx((-1.1, 0.84), abs=1e-6)
        assert p.bar(p.top[0][1]) == 1.0 and p.bar(p.span[0]) == 0.0
        assert p.bar(p.top[1][1]) == pytest.approx((-0.7 + 1.1) / (0.84 + 1.1), abs=1e-6)
        assert "not probabilities" in p.meaning() and f"a {kind} head" in p.meaning()
    # the softmax it showed: 9 at 36%, never above ~45% over 10 classes however sure the head
    shown_before = torch.softmax(torch.tensor(RIDGE, dtype=torch.float64), 0).max().item()
    assert shown_before < 0.45


def test_a_logistic_head_and_a_models_own_classifier_keep_their_softmax_probabilities():
    s = [0.2, -0.97, 0.38, 0.73, -0.3, -0.19, -0.94, -2.14, 0.64, 2.59]
    p = _predict("logistic", s)
    want = torch.softmax(torch.tensor(s, dtype=torch.float64), 0)
    top = want.topk(5)
    assert p.scores == "" and [n for n, _ in p.top] == [DIGITS[i] for i in top.indices]
    assert [v for _, v in p.top] == pytest.approx(top.values.tolist(), rel=1e-6)
    assert p.describe() == "9 59%  3 9%  8 8%  2 7%  0 5%"
    assert [f"{100 * q:.0f}%" for q in top.values.tolist()] == ["59%", "9%", "8%", "7%", "5%"]
    assert p.meaning() == "softmax probabilities" and p.bar(0.25) == 0.25
    assert top_k(np.asarray(s), DIGITS) == top_k(np.asarray(s), DIGITS, softmax=True)


def test_a_real_ridge_head_in_lives_path_shows_the_heads_own_scores(tmp_path):
    from app.live.config import LiveConfig, PaneConfig
    from app.live.engine import LiveEngine
    from app.models.spec import ModelSpec
    from app.probe.config import ProbeConfig
    from app.probe.head_export import load_head, open_head
    from app.probe.run import run_probe, test_split
    from app.tasks import run_to_end

    spec = ModelSpec.make("simple", "simple (random)", options={"widths": (8, 16)})
    res = run_to_end(run_probe(ProbeConfig(model=spec, dataset="digits", head="ridge", train_limit=200,
                                           test_limit=20, val=40)))
    path = res.settings["head_file"]
    head = load_head(path)
    assert head.head == "ridge"
    img = test_split(res.resolved).images[3]
    frame = np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img
    lf = LiveEngine("cpu", open_head=open_head).process(frame, LiveConfig(panes=(PaneConfig(head.backbone,
                                                                                           head=path),)))
    (p,) = lf.panes[0].predictions
    s = open_head(path).scores(img[None])[0].astype(np.float64)  # the head on the image, as the probe scores it
    order = np.argsort(-s, kind="stable")[:5]
    assert p.scores == "ridge" and [n for n, _ in p.top] == [head.classes[i] for i in order]
    assert [v for _, v in p.top] == pytest.approx(s[order].tolist(), abs=1e-4)
    assert p.span == pytest.approx((s.min(), s.max()), abs=1e-4)


def test_the_top5_widget_writes_scores_and_scales_bars_to_their_range(qtbot):
    from widgets.live.predictions import PredictionView

    v = PredictionView()
    qtbot.addWidget(v)
    ridge = _predict("ridge", RIDGE)
    logistic = _predict("logistic", RIDGE)
    v.set_predictions((ridge, logistic))
    rows = v.rows()
    assert [t for _, _, t in rows[0]] == ["score 0.84", "score -0.7", "score -0.8", "score -0.9", "score -0.95"]
    assert [b for _, b, _ in rows[0]] == pytest.approx([(x + 1.1) / 1.94 for x in (0.84, -0.7, -0.8, -0.9, -0.95)],
                                                       abs=1e-6)
    assert all(t.endswith("%") for _, _, t in rows[1])
    assert rows[1][0][1] == pytest.approx(logistic.top[0][1])
    tip = v.toolTip()
    assert "scores of a ridge head, not probabilities" in tip and "softmax probabilities" in tip
    v.resize(300, v.sizeHint().height())
    v.show()
    v.grab()  # paints without error


# --- 2: the frequency bound is true on every map ----------------------------------------------------------------
def _grating(h, w, period, axis, phase=0.0):
    y = torch.arange(h, dtype=torch.float64)[:, None].expand(h, w)
    x = torch.arange(w, dtype=torch.float64)[None, :].expand(h, w)
    return torch.cos(2 * math.pi * (y if axis == "y" else x) / period + phase).float()[None].repeat(2, 1, 1)


def _claim(text: str):
    """("bound", freq, period) for "freq <= F c/px (>= P px)", ("measured", F, P) for "freq F c/px (P px)"."""
    if text.startswith("freq <= "):
        return "bound", float(text.split()[2]), float(text.split("(>= ")[1].split()[0])
    if text.startswith("freq ") and "c/px" in text:
        return "measured", float(text.split()[1]), float(text.split("(")[1].split()[0])
    return None, None, None


def test_the_examples_of_the_audit_read_true():
    from app.live import stats

    text = {(h, w, p, a): stats.map_stats(_grating(h, w, p, a)).frequency_text()
            for h, w, p, a in [(90, 160, 90, "y"), (90, 160, 60, "y"), (90, 160, 45, "y"), (100, 120, 100, "y"),
                               (120, 100, 100, "x"), (128, 128, 100, "x"), (90, 160, 128, "x")]}
    assert text[(90, 160, 90, "y")] == "freq <= 0.023 c/px (>= 45 px)"  # it read "freq <= 0.008 c/px (>= 128 px)"
    assert text[(90, 160, 60, "y")] == "freq <= 0.023 c/px (>= 45 px)"  # the same: 60 px is not >= 128 px
    assert text[(90, 160, 45, "y")] == "freq 0.022 c/px (45.0 px)"  # two cycles over 90 px: measured
    assert text[(100, 120, 100, "y")] == "freq <= 0.020 c/px (>= 50 px)"  # it read ">= 120 px"
    assert text[(120, 100, 100, "x")] == "freq <= 0.020 c/px (>= 50 px)"
    assert text[(128, 128, 100, "x")] == "freq <= 0.016 c/px (>= 64 px)"  # 1.28 cycles: it read ">= 128 px"
    assert text[(90, 160, 128, "x")] == "freq <= 0.016 c/px (>= 64 px)"  # the 128 px crop's width


@pytest.mark.parametrize("h,w", [(90, 160), (100, 120), (120, 100), (28, 28), (128, 128), (45, 80), (160, 90)])
def test_every_frequency_claim_is_true_of_gratings_along_either_axis(h, w):
    """Gratings along each axis, periods from 0.5 to 3 cycles over the side and a few fixed ones, four phases: each
    bound holds (the true frequency at most the one claimed, the period at least), each measurement is within one
    frequency step of the truth."""
    from app.live import stats

    for axis in "yx":
        side = min(h if axis == "y" else w, stats.CROP)
        periods = {side / c for c in (0.5, 0.8, 1.0, 1.2, 1.4, 1.5, 1.6, 1.7, 1.8, 1.9, 2.0, 2.5, 3.0)}
        periods |= {3.0, 7.0, 16.0, 45.0, 60.0, 90.0, 100.0, 200.0}
        for period in sorted(p for p in periods if p >= 2):
            for phase in (0.0, 0.7, 1.6, 2.5):
                text = stats.map_stats(_grating(h, w, period, axis, phase)).frequency_text()
                kind, f, p = _claim(text)
                where = (h, w, axis, round(period, 2), phase, text)
                if kind == "bound":
                    assert 1 / period <= f and period >= p, where
                elif kind == "measured":
                    assert abs(f - 1 / period) <= 1 / side + 1e-3, where


def test_the_frequency_tooltip_says_where_the_bound_applies():
    from app.live import stats

    tip = stats.map_stats(torch.randn(4, 20, 20)).explain()
    assert "'<=' is a bound, on maps of any size" in tip and "at least half that side" in tip
    assert f"maps larger than {stats.CROP} px are measured on their central {stats.CROP}x{stats.CROP} px" in tip
    assert "measured on their centre: '<=' a bound" not in tip  # it said the bound was for large maps only


# --- 3: Live tooltips say what happens ---------------------------------------------------------------------------
def test_the_input_tooltips_say_crop_then_resize_and_what_fps_counts(qtbot):
    from widgets.live.input_pane import InputPane

    pane = InputPane()
    qtbot.addWidget(pane)
    tip = pane.view.toolTip()
    assert "its aspect not kept" not in tip
    assert "gets the frame's centre cropped to that size's aspect, then resized to it (never squashed)" in tip
    lf = SimpleNamespace(frame=np.zeros((60, 80, 3), np.uint8), fps=12.5, latency_ms=20.0, read_ms=1.0, index=7,
                         wait_ms=0.0)
    pane.show_rates(lf)
    assert pane.info.text().startswith("12.5 FPS")
    t = pane.info.toolTip()
    assert t.startswith("FPS: frames the worker computes and publishes per second") and "frames shown" not in t


# --- 4: Models' layer statistics are the whole layer's -----------------------------------------------------------
@pytest.fixture(scope="module")
def big_layer():
    from app.models import viz
    from app.models.build import build
    from app.models.spec import ModelSpec

    spec = ModelSpec.make("simple", options={"widths": (8, 2048)}, weight_state="random")
    m = build(spec, "cpu")
    with torch.no_grad():
        m.blocks[1].conv.weight[1024:] *= 10  # later channels larger: the first 1,024 are not the layer
    return viz.snapshot(m, spec, "big"), m.blocks[1].conv.weight.detach().double().numpy()


def test_a_snapshot_keeps_the_whole_layers_std_mean_and_max(big_layer):
    from app.models import viz

    v, full = big_layer
    path = "blocks.1.conv"
    assert v.kernels[path].shape[0] == viz.MAX_KERNEL_CHANNELS and v.kernel_totals[path] == 2048
    st = v.kernel_stats[path]
    assert st.std == pytest.approx(full.std(), rel=1e-5)
    assert st.mean_abs == pytest.approx(np.abs(full).mean(), rel=1e-5)
    assert st.max_abs == pytest.approx(np.abs(full).max(), rel=1e-6) and st.count == full.size
    assert v.layer_limit(path) == st.max_abs
    want = (f"std {full.std():.3g} vs {full.std():.3g}; mean |w| {np.abs(full).mean():.3g} vs "
            f"{np.abs(full).mean():.3g} (what layers compute: CKA, Insight)")
    assert viz.compare_text(st, st) == want
    # a layer kept whole: the same numbers from its kernels
    small = v.kernel_stats["blocks.0.conv"]
    k = v.kernels["blocks.0.conv"].astype(np.float64)
    assert (small.std, small.mean_abs, small.max_abs) == pytest.approx((k.std(), np.abs(k).mean(), np.abs(k).max()),
                                                                       rel=1e-5)


def test_a_vs_b_and_the_colour_limit_read_the_whole_layer(qtbot, big_layer):
    from widgets.models.kernel_compare import KernelCompare

    v, full = big_layer
    kc = KernelCompare()
    qtbot.addWidget(kc)
    for panel in (kc.panel_a, kc.panel_b):
        panel.set_view(v)
        assert panel.select_layer("blocks.1.conv")
    kc.update_compare()
    std, mean = full.std(), np.abs(full).mean()
    assert kc.compare.text() == (f"A vs B: std {std:.3g} vs {std:.3g}; mean |w| {mean:.3g} vs {mean:.3g} "
                                 "(what layers compute: CKA, Insight)")
    m = kc.panel_a.mosaic()
    assert m.limit == pytest.approx(np.abs(full).max(), rel=1e-6)  # it read the drawn 512 channels' max, 10x less
    assert f"|w| up to {np.abs(full).max():.3g}" in kc.panel_a.info.text()
    assert "first 512 of 2048 output channels" in kc.panel_a.info.text()
    assert "every output channel" in kc.scale.toolTip()


# --- 5: TorchScript Linear and BatchNorm rows ---------------------------------------------------------------------
class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = torch.nn.Conv2d(3, 16, 3, stride=2, padding=1)
        self.bn = torch.nn.BatchNorm2d(16)
        self.fc = torch.nn.Linear(16, 10)
        self.head = torch.nn.Linear(10, 4, bias=False)

    def forward(self, x):
        return self.head(self.fc(torch.relu(self.bn(self.a(x))).mean((2, 3))))


@pytest.mark.parametrize("kind", ["script", "trace"])
def test_torchscript_linear_and_batchnorm_rows_have_their_channels(tmp_path, kind):
    import app.models.external as ext
    from app.models import viz

    eager = _Net().eval()
    want = {(r.path, r.kind, r.in_channels, r.out_channels, r.params) for r in viz.layer_rows(eager)}
    assert {k for _, k, *_ in want} == {"conv", "batch-norm", "linear"}
    sm = torch.jit.script(eager) if kind == "script" else torch.jit.trace(eager, torch.randn(1, 3, 32, 32))
    p = tmp_path / f"net_{kind}.pt"
    sm.save(str(p))
    spec = ext.spec_for(str(p))
    v = viz.snapshot(ext.build(spec, "cpu"), spec)
    got = {(r.path.split(".", 1)[-1], r.kind, r.in_channels, r.out_channels, r.params) for r in v.rows}  # "net.fc"
    assert got == want, got  # it listed ("fc", "Linear", 0, 0, 170) and ("bn", "BatchNorm2d", 0, 0, 32)


# --- 6: a slow loop's recording plays at the pace it ran -------------------------------------------------------------
def test_the_recording_rate_is_the_loops_measured_rate_however_slow(tmp_path):
    import cv2

    from app.live.pipeline import Recorder
    from widgets.live.workspace import RECORD_FALLBACK_FPS, recording_rate

    assert recording_rate(0.5)[0] == 0.5  # it was 15: a 0.5 FPS loop played back 30 times too fast
    assert recording_rate(0.04)[0] == 0.04  # and round(fps, 1) would have made it 0
    assert recording_rate(29.97)[0] == 30.0 and recording_rate(12.345)[0] == 12.3
    assert recording_rate(0.0) == (RECORD_FALLBACK_FPS, recording_rate(0.0)[1])
    assert "not measured" in recording_rate(0.0)[1] and "at 0.5 FPS" in recording_rate(0.5)[1]
    # a video written at that rate lasts as long as the loop took: 3 frames at 0.5 FPS, 6 seconds
    rec = Recorder(tmp_path / "slow.avi", recording_rate(0.5)[0])
    for i in range(3):
        rec.write(np.full((48, 64, 3), 60 * i, np.uint8))
    rec.close()
    cap = cv2.VideoCapture(str(rec.path))
    fps, n = cap.get(cv2.CAP_PROP_FPS), cap.get(cv2.CAP_PROP_FRAME_COUNT)
    cap.release()
    assert fps == pytest.approx(0.5) and n / fps == pytest.approx(6.0)


def test_the_workspace_records_a_half_fps_loop_at_half_an_fps_and_says_so(qtbot, fe_home):
    from app.live.config import LiveStatus
    from app.session import Session
    from widgets.application import make_app
    from widgets.live.workspace import LiveWorkspace
    from widgets.main_window import settings

    make_app()
    ws = LiveWorkspace(Session(), settings())  # not activated: no worker, no source
    qtbot.addWidget(ws)
    asked = []
    ws.runner.start_recording = lambda path, fps: asked.append(fps)
    ws.runner.stop_recording = lambda: None
    ws._last = SimpleNamespace(fps=0.5)  # the loop's measured rate: one frame every two seconds
    ws.controls.rec_btn.setChecked(True)
    assert asked == [0.5]
    ws._on_status(LiveStatus(f"Recording to {ws.recording}"))
    assert ws.status.text() == (f"Recording to {ws.recording} at 0.5 FPS, the loop's rate: it plays back at the "
                                "pace it was computed")
    ws.controls.rec_btn.setChecked(False)
    ws.shutdown()
