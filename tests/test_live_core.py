"""Live view core: sources, mosaics, the engine, the one-slot mailbox, the loop, recording, the bench command.

No QApplication here. A video written with cv2.VideoWriter stands in for the camera (there is none on CI).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from app.imaging import colormaps
from app.imaging import maps
from app.live import mosaic as mz
from app.live.config import LiveConfig, LiveFrame, LiveStatus, PaneConfig
from app.live.engine import LiveEngine
from app.live.pipeline import LiveLoop, Mailbox, Recorder, default_pane_specs, live_spec, model_choices
from app.live.sources import (
    CameraSource,
    DatasetSource,
    ImageSource,
    SourceConfig,
    SourceError,
    VideoFileSource,
    make_source,
)
from app.live.synthetic import SyntheticSource, write_test_video
from app.models.spec import ModelSpec
from tests.live_helpers import run_loop_until

ROOT = Path(__file__).resolve().parent.parent
TINY = ModelSpec.make("simple", label="tiny", options={"widths": (4, 6), "pool": "max"})


@pytest.fixture
def video(tmp_path) -> Path:
    return write_test_video(tmp_path / "clip.avi", frames=12, width=64, height=48)


# --- sources ------------------------------------------------------------------------------------------------------
def test_synthetic_scene_moves_and_is_deterministic():
    a, b = SyntheticSource(80, 60), SyntheticSource(80, 60)
    a.open(), b.open()
    f0, f1 = a.read(), a.read()
    assert f0.shape == (60, 80, 3) and f0.dtype == np.uint8 and f0.flags.c_contiguous
    assert np.array_equal(f0, b.read())  # same frame index, same picture
    assert np.abs(f0.astype(int) - f1.astype(int)).mean() > 0.1  # it moves
    assert f0.std() > 20  # a real picture, not a flat field


def test_video_file_loops_and_reports_deleted_file(video):
    src = VideoFileSource(video)
    src.open()
    assert "12 frames" in src.description
    frames = [src.read() for _ in range(30)]  # more than the file has: it loops
    assert all(f is not None and f.shape == (48, 64, 3) for f in frames)
    video.unlink()  # gone mid-stream: a clear error at the next rewind, not a crash or a hang
    with pytest.raises(SourceError, match="does not exist"):
        for _ in range(30):
            src.read()
    src.close()
    src.close()  # idempotent


def test_video_without_loop_ends_with_none(video):
    src = VideoFileSource(video, loop=False)
    src.open()
    n = 0
    while src.read() is not None:
        n += 1
        assert n < 100
    assert n == 12


def test_missing_camera_and_bad_files_give_clear_messages(tmp_path):
    with pytest.raises(SourceError, match="Camera 99 could not be opened"):
        CameraSource(99).open()
    with pytest.raises(SourceError, match="does not exist"):
        VideoFileSource(tmp_path / "nope.mp4").open()
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"not a video at all")
    with pytest.raises(SourceError, match="bad.avi"):
        VideoFileSource(bad).open()
    with pytest.raises(SourceError, match="holds no images"):
        ImageSource(tmp_path).open()
    with pytest.raises(SourceError, match="unknown source kind"):
        make_source(SourceConfig(kind="telepathy"))


def test_camera_asks_for_a_one_frame_driver_queue_and_reports_unplugging(monkeypatch):
    """No camera on CI: a stand-in VideoCapture records what the source asks of the driver."""
    calls = []

    class FakeCap:
        def __init__(self, index):
            self.frames = 2

        def isOpened(self):  # noqa: N802 - OpenCV's name
            return True

        def set(self, prop, value):
            calls.append((prop, value))
            return True

        def read(self):
            if self.frames <= 0:  # unplugged after two frames
                return False, None
            self.frames -= 1
            return True, np.zeros((48, 64, 3), np.uint8)

        def release(self):
            calls.append("release")

    monkeypatch.setattr(cv2, "VideoCapture", FakeCap)
    cam = CameraSource(0, 64, 48)
    cam.open()
    assert (cv2.CAP_PROP_BUFFERSIZE, 1) in calls and (cv2.CAP_PROP_FRAME_WIDTH, 64) in calls
    assert cam.read().shape == (48, 64, 3) and cam.read().shape == (48, 64, 3)
    with pytest.raises(SourceError, match="stopped delivering"):
        cam.read()
    cam.close()
    assert calls[-1] == "release"


def test_image_folder_and_dataset_sources(tmp_path):
    for i, c in enumerate([(255, 0, 0), (0, 255, 0)]):
        img = np.zeros((20, 30, 3), np.uint8)
        img[:] = c
        cv2.imwrite(str(tmp_path / f"{i}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    (tmp_path / "notes.txt").write_text("skip me")
    src = ImageSource(tmp_path)
    src.open()
    a, b, c = src.read(), src.read(), src.read()
    # at their own size: the pipeline resizes once, to the processing size
    assert a.shape == (20, 30, 3) and tuple(a[5, 5]) == (255, 0, 0) and tuple(b[5, 5]) == (0, 255, 0)
    assert np.array_equal(a, c)  # cycles
    ds = DatasetSource("digits", hold=1)
    ds.open()
    f = ds.read()
    assert f.shape == (8, 8, 3) and f.max() > 0 and ds.caption.startswith("label: ")


# --- mosaics --------------------------------------------------------------------------------------------------
def test_normalise_per_map_and_symmetric():
    fm = torch.stack([torch.linspace(-1, 3, 12).view(3, 4), torch.full((3, 4), 5.0), torch.zeros(3, 4)])
    u, lo, hi = maps.normalise(fm)
    assert u.dtype == torch.uint8
    assert u[0].min() == 0 and u[0].max() == 255 and lo[0] == -1 and hi[0] == 3
    assert (u[1] == 0).all()  # a constant map does not divide by zero
    s, lo, hi = maps.normalise(fm[:1], symmetric=True)
    assert hi[0] == 3 and lo[0] == -3
    zero_idx = (fm[0].flatten().abs()).argmin()
    assert abs(int(s[0].flatten()[zero_idx]) - 128) <= 5


def test_mosaic_tiles_row_major_with_lut_colours():
    c, h, w = 5, 6, 8
    fmap = torch.stack([torch.full((h, w), float(i)) for i in range(c)])
    fmap[:, 0, 0] = -1.0  # each map: min -1 at its corner, its own value elsewhere
    img, grid, lo, hi = maps.make_mosaic(fmap, 0, c, "viridis", pad=2, aspect=1.0)
    m = img.numpy()
    assert m.dtype == np.uint8 and m.shape == (grid.rows * (h + 2) - 2, grid.cols * (w + 2) - 2, 3)
    assert grid.count == c and grid.rows * grid.cols >= c
    lut = colormaps.lut("viridis")
    for i in range(c):
        r, col = divmod(i, grid.cols)
        y, x = r * (h + 2) + 3, col * (w + 2) + 4
        assert tuple(m[y, x]) == tuple(lut[255])  # every map's own max -> 255 (map 0: 0 against its -1)
        assert tuple(m[r * (h + 2), col * (w + 2)]) == tuple(lut[0])  # the corner is each map's min
        assert grid.index_at(x, y) == i
    assert grid.index_at(w + 0.5, 1) is None  # a gap
    # maps larger than a tile are pooled down; paging picks the right channels
    big = torch.randn(20, 64, 96)
    img, grid, _, _ = maps.make_mosaic(big, 16, 16, "gray", tile_max=(32, 48))
    assert grid.count == 4 and (grid.tile_h, grid.tile_w) == (32, 48)


@pytest.mark.parametrize("layout", ["channels_last", "contiguous", "channels_last_page", "odd", "half"])
def test_shrink_is_the_block_mean_whatever_the_layout(layout):
    g = torch.Generator().manual_seed(0)
    if layout == "channels_last":
        fm = torch.randn(1, 16, 240, 320, generator=g).contiguous(memory_format=torch.channels_last)[0]
    elif layout == "channels_last_page":  # a page of a wide layer: channel innermost, not contiguous
        fm = torch.randn(1, 64, 121, 161, generator=g).contiguous(memory_format=torch.channels_last)[0, 16:32]
    elif layout == "odd":
        fm = torch.randn(5, 100, 97, generator=g)
    elif layout == "half":
        fm = torch.randn(3, 200, 200, generator=g).half()
    else:
        fm = torch.randn(16, 240, 320, generator=g)
    out = maps.shrink(fm, 96, 128)
    n, h, w = fm.shape
    f = max(-(-h // 96), -(-w // 128))
    h2, w2 = h // f, w // f
    ref = torch.nn.functional.avg_pool2d(fm[:, :h2 * f, :w2 * f].float()[None], f)[0]
    assert out.shape == ref.shape and out.dtype == torch.float32 and out.is_contiguous()
    assert torch.allclose(out, ref, atol=1e-4)
    out[0, 0, 0] = 1e9  # a new tensor, never a view of the feature map
    assert float(fm.float().max()) < 1e9


def test_allocator_tuning_stops_page_faults_per_frame():
    """glibc only: freeing and re-allocating a CNN's activation-sized blocks must not fault them in every time."""
    import os

    if not sys.platform.startswith("linux") or not os.confstr("CS_GNU_LIBC_VERSION"):
        pytest.skip("glibc malloc tuning only")
    code = (
        "import resource, torch\n"
        "from app import device\n"
        "print(device.tune_allocator())\n"
        "def frame():\n"
        "    xs = [torch.ones(16, 240, 320) for _ in range(6)]\n"
        "    return float(sum(x[0, 0, 0] for x in xs))\n"
        "for _ in range(5): frame()\n"
        "f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(20): frame()\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 20)\n"
    )
    out = {}
    for setting in ("1", "0"):
        env = dict(os.environ, FILTER_EXPLORER_MALLOC_TUNING=setting)
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        applied, faults = r.stdout.split()
        out[setting] = (applied == "True", float(faults))
    assert out["1"][0] and not out["0"][0]
    assert out["0"][1] > 1000  # untuned: 6 x 4.9 MB (~7,000 pages) mmap'ed and faulted in again every frame
    assert out["1"][1] < out["0"][1] / 10  # tuned: measured 0-60 (the heap settling), never thousands


def test_colorbar_and_compose(tmp_path):
    bar = colormaps.colorbar("magma", 50, 4)
    assert bar.shape == (50, 4, 3) and tuple(bar[0, 0]) == tuple(colormaps.lut("magma")[255])
    out = mz.compose([np.zeros((10, 20, 3), np.uint8), np.full((30, 30, 3), 7, np.uint8)], height=40, gap=4)
    assert out.shape == (40, 80 + 4 + 40, 3)
    p = mz.save_png(tmp_path / "x", out)
    assert p.suffix == ".png" and cv2.imread(str(p)).shape == (40, 124, 3)


# --- engine ---------------------------------------------------------------------------------------------------
def test_engine_makes_mosaics_pages_and_focus():
    eng = LiveEngine("cpu")
    frame = SyntheticSource(64, 48)
    frame.open()
    f = frame.read()
    with torch.inference_mode():
        lf = eng.process(f, LiveConfig(panes=(PaneConfig(TINY, 0, 0, 4), PaneConfig(TINY, 1, 1, 4)), size=(24, 32)))
    assert isinstance(lf, LiveFrame) and lf.frame.shape == (24, 32, 3)
    p0, p1 = lf.panes
    assert p0.error is None and p0.mosaic.dtype == np.uint8 and p0.mosaic.ndim == 3
    assert (p0.first, p0.count, p0.channels) == (0, 4, 4)
    assert (p1.first, p1.count, p1.channels) == (4, 2, 6)  # second page of a 6-channel layer
    assert p1.layers == (("conv1", 4, 2), ("conv2", 6, 2))
    assert p1.channel_at(1, 1) == 4
    p0.mosaic[0, 0] = 0  # an owned copy: writable, not a view of a worker buffer
    with torch.inference_mode():
        lf = eng.process(f, LiveConfig(panes=(PaneConfig(TINY, 1, 0, 4, focus=3),), size=(24, 32)))
    p = lf.panes[0]
    assert p.focus == 3 and p.mosaic.shape[:2] == p.map_size == (12, 16) and p.lo <= p.hi
    assert p.channel_at(1, 1) is None
    with torch.inference_mode():  # at the frame's own size the input shown is the frame itself, as a copy
        lf = eng.process(f, LiveConfig(panes=(PaneConfig(TINY, 0, 0, 4),), size=(48, 64)))
    assert np.array_equal(lf.frame, f) and not np.shares_memory(lf.frame, f)


def test_engine_input_is_the_frame_normalised_with_the_model_statistics():
    from app.models.inputs import InputSpec

    eng = LiveEngine("cpu")
    frame = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    rgb = InputSpec(3, None, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
    x = eng.prepare(frame, rgb, (6, 8))
    ref = (torch.from_numpy(frame).permute(2, 0, 1).float() / 255 - torch.tensor(rgb.mean).view(3, 1, 1)) / \
        torch.tensor(rgb.std).view(3, 1, 1)
    assert x.shape == (1, 3, 6, 8) and torch.allclose(x[0], ref, atol=1e-5)
    gray = eng.prepare(frame, InputSpec(1, None, (0.5,), (0.25,)), (6, 8))
    luma = (torch.from_numpy(frame).float() / 255 @ torch.tensor([0.299, 0.587, 0.114]))
    assert gray.shape == (1, 1, 6, 8) and torch.allclose(gray[0, 0], (luma - 0.5) / 0.25, atol=1e-5)


def test_engine_reports_a_bad_model_in_its_pane_only():
    eng = LiveEngine("cpu")
    bad = ModelSpec.make("no-such-net", label="broken")
    with torch.inference_mode():
        lf = eng.process(np.zeros((20, 20, 3), np.uint8), LiveConfig(panes=(PaneConfig(bad), PaneConfig(TINY)),
                                                                     size=(16, 16)))
    assert lf.panes[0].mosaic is None and "broken" in lf.panes[0].error and "no-such-net" in lf.panes[0].error
    assert lf.panes[1].error is None and lf.panes[1].mosaic is not None


def test_model_choices_and_defaults():
    choices = model_choices({"mine": TINY})
    labels = [c.label for c in choices]
    assert "tiny" in labels and len(labels) == len(set(labels))
    panes = default_pane_specs(choices)
    assert len(panes) >= 2 and panes[0].backbone == "rdsn"
    assert dict(panes[0].options)["k"] <= 64  # affordable at video resolution
    assert live_spec(ModelSpec.make("rdsn", options={"k": 8})).kwargs == {"k": 8, "blocks": 2}


# --- mailbox and loop -------------------------------------------------------------------------------------------
def test_mailbox_keeps_only_the_newest_and_notifies_once():
    calls = []
    mb = Mailbox(notify=lambda: calls.append(1))
    for i in range(50):
        mb.put(i)
    mb.post(LiveStatus("hello"))
    assert calls == [1]  # one wake-up however many puts
    frame, msgs = mb.take()
    assert frame == 49 and [m.message for m in msgs] == ["hello"] and mb.dropped == 49
    assert mb.take() == (None, [])
    mb.put(50)
    assert calls == [1, 1]


def _run_loop(cfg, until, timeout=30.0):
    got: list = []
    cond = threading.Event()
    mb = Mailbox(notify=cond.set)
    loop = LiveLoop(cfg, mb, LiveEngine("cpu"))

    def step():
        f, msgs = mb.take()
        got.extend(msgs)
        if f is not None:
            got.append(f)
        return until(got, loop)

    run_loop_until(loop, cond, step, timeout)
    return got, loop


def test_loop_streams_a_video_and_survives_a_missing_camera(video):
    cfg = LiveConfig(SourceConfig("video", path=str(video)), (PaneConfig(TINY),), size=(24, 32), max_fps=0)
    state = {"switched": False}

    def until(got, loop):
        frames = [g for g in got if isinstance(g, LiveFrame)]
        if len(frames) >= 3 and not state["switched"]:
            state["switched"] = True
            loop.set_config(LiveConfig(SourceConfig("camera", camera=99), cfg.panes, size=(24, 32)))
        errors = [g for g in got if isinstance(g, LiveStatus) and g.level == "error"]
        if errors and state["switched"] and not state.get("back"):
            state["back"] = True
            loop.set_config(cfg)  # the loop still runs: back to the video
            state["n"] = len(frames)
        return state.get("back") and len(frames) >= state["n"] + 2

    got, _ = _run_loop(cfg, until)
    frames = [g for g in got if isinstance(g, LiveFrame)]
    errors = [g for g in got if isinstance(g, LiveStatus) and g.level == "error"]
    assert errors and "Camera 99" in errors[0].message and not errors[0].running
    assert state.get("back") and len(frames) >= state["n"] + 2
    assert frames[-1].panes[0].mosaic is not None


def test_loop_pause_step_and_deleted_video(video):
    cfg = LiveConfig(SourceConfig("video", path=str(video)), (PaneConfig(TINY),), size=(24, 32), paused=True,
                     max_fps=0)
    state = {}

    def until(got, loop):
        frames = [g for g in got if isinstance(g, LiveFrame)]
        if "stepped" not in state:
            state["stepped"] = True
            loop.step()
            loop.step()
            return False
        if frames and frames[-1].index >= 1 and "deleted" not in state:
            time.sleep(0.3)  # paused: no further frame may be read meanwhile
            state["frames_paused"] = loop.frames
            state["deleted"] = True
            video.unlink()
            loop.set_config(replace_paused(cfg, False))
        return any(isinstance(g, LiveStatus) and g.level == "error" for g in got)

    got, loop = _run_loop(cfg, until)
    assert state["frames_paused"] == 2  # paused: exactly the two steps were read
    err = [g for g in got if isinstance(g, LiveStatus) and g.level == "error"]
    assert err and "does not exist" in err[-1].message


def replace_paused(cfg, paused):
    from dataclasses import replace

    return replace(cfg, paused=paused)


def test_recorder_writes_a_readable_video(tmp_path):
    rec = Recorder(tmp_path / "out.avi", fps=10)
    for i in range(5):
        rec.write(np.full((31, 41, 3), i * 40, np.uint8))  # odd sizes are padded to even
    rec.close()
    cap = cv2.VideoCapture(str(tmp_path / "out.avi"))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    assert n == 5


# --- bench --------------------------------------------------------------------------------------------------
def test_bench_command_prints_json():
    out = subprocess.run(
        [sys.executable, "main.py", "--threads", "1", "bench", "live", "--backbone", "simple", "--options",
         '{"widths": [4, 8]}', "--size", "48x64", "--frames", "6", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    for key in ("app_fps", "bare_fps", "ratio", "device"):
        assert key in res
    assert res["app_fps"] > 0 and res["bare_fps"] > 0 and res["size"] == "48x64" and res["frames"] == 6
    assert abs(res["ratio"] - res["app_fps"] / res["bare_fps"]) < 0.01
    bad = subprocess.run([sys.executable, "main.py", "bench", "live", "--size", "huge"], cwd=ROOT,
                         capture_output=True, text=True, timeout=180)
    assert bad.returncode == 2 and "HxW" in bad.stderr and "Traceback" not in bad.stderr
