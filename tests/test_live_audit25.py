"""Audit M findings on Live (4, 7, 8, 11, 14, 15): the probe-head note's sizes, an image folder with a file found
unreadable mid-list, video-source messages for odd files, ``bench live`` with a checkpoint's sidecar, the mosaic's
aspect, and the channel numbering / block-mean hover texts. Core only: no QApplication."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from app.imaging.layout import grid_shape, layout
from app.live.config import PaneResult, channel_name
from app.live.predict import Predictor
from app.live.sources import ImageSource, SourceError, VideoFileSource, frame_count_text

ROOT = Path(__file__).resolve().parents[1]


# --- 4: the probe head's note names the size the frame is fed at, and the training images' own ----------------
class _FakeApplier:
    """What ``open_head`` gives, with the real ``HeadApplier.note`` and ``size`` (so the old note is what it says)."""

    def __init__(self, trained: tuple[int, int] | None, declared: tuple[int, int] | None) -> None:
        self.head = SimpleNamespace(size=trained, input=SimpleNamespace(size=declared))
        self.classes = tuple(str(i) for i in range(10))

    @property
    def size(self):
        from app.probe.head_export import HeadApplier

        return HeadApplier.size.fget(self)

    def note(self) -> str:
        from app.probe.head_export import HeadApplier

        return HeadApplier.note(self)

    def title(self) -> str:
        return "logistic · simple · conv3 · avg · digits"

    def matches(self, spec) -> bool:
        return True

    def scores(self, images):
        return np.arange(10, dtype=np.float32)[None].repeat(len(images), 0)


def _head_note(trained, declared) -> str:
    pred = Predictor("cpu", open_head=lambda path, device: _FakeApplier(trained, declared))
    p = pred.head_prediction("h.json", None, np.zeros((40, 50, 3), np.uint8))
    assert p.error is None and p.top
    return p.note


def test_head_note_says_the_backbone_input_size_and_the_training_images_own():
    note = _head_note((8, 8), (28, 28))  # digits (8x8) fed to an MNIST model at 28x28, as in the probe
    assert "resized to 28x28" in note and "8x8" in note
    assert "the head's training images)" not in note  # 28x28 is not the training images' size
    assert "backbone was fed in the probe" in note


def test_head_note_without_an_input_size_names_the_training_images():
    note = _head_note((8, 8), None)
    assert "resized to 8x8" in note and "training images" in note
    assert "frame at its own size" in _head_note(None, None)


# --- 7: a file found unreadable mid-list: the next image is shown, none twice, none skipped -----------------
def _folder(tmp_path: Path, names=("a", "b", "c", "d")) -> Path:
    d = tmp_path / "imgs"
    d.mkdir()
    for k, n in enumerate(names):
        cv2.imwrite(str(d / f"{n}.png"), np.full((6, 8, 3), 10 * (k + 1), np.uint8))
    return d


def _pixels(src: ImageSource, n: int) -> list[int]:
    out = []
    for _ in range(n):
        out.append(int(src.read()[0, 0, 0]))
    return out


def test_a_file_unreadable_mid_list_shows_the_next_image(tmp_path):
    d = _folder(tmp_path)  # a=10 b=20 c=30 d=40
    src = ImageSource(d, hold=1)
    src.open()  # reads a.png only
    (d / "b.png").write_bytes(b"not a png")  # found out when its turn comes
    assert _pixels(src, 7) == [10, 30, 40, 10, 30, 40, 10]
    assert src.skipped == ["b.png"] and "skipped: b.png" in src.description


def test_a_held_image_folder_keeps_its_hold_across_an_unreadable_file(tmp_path):
    d = _folder(tmp_path)
    src = ImageSource(d, hold=3)
    src.open()
    (d / "c.png").write_bytes(b"")
    assert _pixels(src, 12) == [10] * 3 + [20] * 3 + [40] * 3 + [10] * 3
    src.advance()  # a step still moves to the next picture
    assert _pixels(src, 1) == [20]


def test_the_last_file_unreadable_wraps_to_the_first(tmp_path):
    d = _folder(tmp_path, ("a", "b", "c"))
    src = ImageSource(d, hold=1)
    src.open()
    (d / "c.png").write_bytes(b"x")
    assert _pixels(src, 5) == [10, 20, 10, 20, 10]


# --- 8: video source messages for files that are not videos --------------------------------------------------
def test_an_image_opened_as_a_video_says_so(tmp_path):
    p = tmp_path / "a.png"
    cv2.imwrite(str(p), np.full((20, 30, 3), 9, np.uint8))
    with pytest.raises(SourceError, match=r"a\.png is an image, not a video: choose the image source"):
        VideoFileSource(p).open()


def test_an_image_under_another_name_has_no_made_up_frame_count(tmp_path):
    p = tmp_path / "a.bin"  # OpenCV opens a still image as a "video" and reports INT64_MIN frames
    cv2.imwrite(str(tmp_path / "a.png"), np.full((20, 30, 3), 9, np.uint8))
    shutil.move(tmp_path / "a.png", p)
    src = VideoFileSource(p)
    try:
        src.open()
    except SourceError:
        pytest.skip("this OpenCV build does not open a still image as a video")
    try:
        assert "frame count unknown" in src.description and "-" not in src.description.split("(")[1]
    finally:
        src.close()


@pytest.mark.parametrize("n, want", [(-9223372036854775808.0, "frame count unknown"), (0.0, "frame count unknown"),
                                     (float("nan"), "frame count unknown"), (1e12, "frame count unknown"),
                                     (1.0, "1 frame"), (20.0, "20 frames")])
def test_frame_count_text(n, want):
    assert frame_count_text(SimpleNamespace(get=lambda prop: n)) == want


def test_a_folder_given_as_a_video_is_called_a_folder(tmp_path):
    with pytest.raises(SourceError, match="is a folder, not a video file") as exc:
        VideoFileSource(tmp_path).open()
    assert "does not exist" not in str(exc.value)


def test_an_empty_mp4_is_called_empty(tmp_path):
    p = tmp_path / "empty.mp4"
    p.write_bytes(b"")
    with pytest.raises(SourceError, match=r"empty\.mp4 is empty \(0 bytes\)") as exc:
        VideoFileSource(p).open()
    assert "try an .mp4" not in str(exc.value)


def test_a_damaged_mp4_is_not_told_to_try_an_mp4(tmp_path):
    p = tmp_path / "bad.mp4"
    p.write_bytes(b"\0" * 64)
    with pytest.raises(SourceError) as exc:
        VideoFileSource(p).open()
    assert "try an .mp4" not in str(exc.value)


def test_a_missing_video_still_does_not_exist(tmp_path):
    with pytest.raises(SourceError, match="does not exist"):
        VideoFileSource(tmp_path / "nope.mp4").open()


# --- 11: bench live reads a checkpoint's sidecar, as every other command does ---------------------------------
SIMPLE_MNIST = ROOT / "resources" / "models" / "simple_mnist.safetensors"


@pytest.mark.skipif(not SIMPLE_MNIST.is_file(), reason="the shipped simple_mnist checkpoint is not there")
@pytest.mark.parametrize("backbone", ["simple", None])
def test_bench_live_loads_the_shipped_checkpoint_through_its_sidecar(backbone):
    from app.live.bench import run_bench

    res = run_bench(backbone, (32, 32), frames=1, device="cpu", warmup=1, rounds=1, weights=str(SIMPLE_MNIST))
    assert res["backbone"] == "simple" and res["options"]["in_channels"] == 1 and res["frames"] == 1


@pytest.mark.skipif(not SIMPLE_MNIST.is_file(), reason="the shipped simple_mnist checkpoint is not there")
def test_bench_spec_is_the_shared_spec_with_the_sidecar_input():
    from app.live.bench import bench_spec
    from app.models.spec_args import spec_from_args

    spec = bench_spec("simple", None, str(SIMPLE_MNIST))
    want = spec_from_args(SimpleNamespace(backbone="simple", weights=str(SIMPLE_MNIST), options=None))
    assert spec == want and spec.input is not None and tuple(spec.input.size) == (28, 28)
    assert bench_spec("rdsn").kwargs.get("k") == 32  # random weights: still the Live view's own options
    assert bench_spec("simple", {"widths": [4]}).kwargs["widths"] in ([4], (4,))


# --- 14: the mosaic's shape is the one closest to its target aspect -------------------------------------------
def _off(rows: int, cols: int, th: int, tw: int, aspect: float, gap: int = 0) -> float:
    w, h = cols * tw + (cols - 1) * gap, rows * th + (rows - 1) * gap
    return abs(math.log(w / h / aspect))


def test_sixteen_live_maps_are_four_by_four():
    assert grid_shape(16, 80, 106) == (4, 4)  # was 6x3 (width/height 0.66; 4x4 gives 1.32, closer by ratio)
    lay = layout(16, 80, 106, gap=2, aspect=1.0)
    assert (lay.rows, lay.cols) == (4, 4)


def test_grid_shape_is_the_closest_of_every_shape():
    rng = np.random.default_rng(0)
    for _ in range(300):
        n, th, tw, gap = int(rng.integers(1, 300)), int(rng.integers(1, 120)), int(rng.integers(1, 120)), \
            int(rng.integers(0, 4))
        aspect = float(np.exp(rng.uniform(-2.5, 2.5)))
        rows, cols = grid_shape(n, th, tw, aspect, gap)
        assert rows * cols >= n and (rows - 1) * cols < n and rows * (cols - 1) < n  # no empty row; fewest cols
        shapes = {(math.ceil(n / c), math.ceil(n / math.ceil(n / c))) for c in range(1, n + 1)}  # fewest columns
        best = min(_off(r, c, th, tw, aspect, gap) for r, c in shapes)
        assert _off(rows, cols, th, tw, aspect, gap) <= best + 1e-9, (n, th, tw, aspect, gap)


def test_grid_shape_keeps_its_old_cases():
    assert grid_shape(0, 5, 5) == (0, 0) and grid_shape(1, 5, 5) == (1, 1)
    assert grid_shape(64, 10, 10) == (8, 8) and grid_shape(10, 10, 10, 100.0) == (1, 10)
    assert grid_shape(10, 10, 10, 0.01) == (10, 1)


def test_live_mosaic_of_sixteen_maps_is_four_by_four():
    import torch

    from app.imaging import maps

    fmap = torch.rand(16, 80, 106)
    _img, grid, _lo, _hi = maps.make_mosaic(fmap, 0, 16, "viridis", pad=2, aspect=1.0)
    assert (grid.rows, grid.cols) == (4, 4)


# --- 15: channel numbering said, and a shrunk map's hover value called a block mean ------------------------------
def _pane(factor: int, first: int = 2, count: int = 2, focus=None) -> PaneResult:
    values = np.arange(count * 4 * 5, dtype=np.float32).reshape(count, 4, 5)
    lay = layout(count, 4, 5, gap=2, aspect=1.0)
    return PaneResult("p", np.zeros((lay.height, lay.width, 3), np.uint8), lay, first=first, count=count,
                      channels=16, focus=focus, map_size=(4 * factor - 1, 5 * factor), values=values, factor=factor)


def test_channel_name_says_the_number_and_the_index():
    assert channel_name(2) == "channel 3 (index 2)"


def test_hover_names_the_channel_number_and_index():
    r = _pane(1)
    text = r.hover_text(1.0, 2.0)  # tile 0: channel index 2, row 2, col 1
    assert text == f"channel 3 (index 2) · row 2, col 1 · value {float(r.values[0, 2, 1]):.4g}"
    assert r.hover_text(-1.0, -1.0) is None


def test_hover_on_a_shrunk_map_says_block_mean_and_block_extent():
    r = _pane(3)
    text = r.hover_text(1.0, 3.0)  # value pixel (3, 1): map rows 9..10 (the map has 11), cols 3..5
    assert text.startswith("channel 3 (index 2) · rows 9–10, cols 3–5 · 3x3 block mean ")
    assert f"{float(r.values[0, 3, 1]):.4g}" in text


def test_page_text_gives_numbers_and_indices():
    assert _pane(1).channels_text().startswith("channels 3–4 (indices 2–3) of 16, ")
    assert _pane(1, first=5, count=1).channels_text().startswith("channel 6 (index 5) of 16")
    assert _pane(1, count=1, focus=7).channels_text().startswith("channel 8 (index 7) of 16")
