"""Live sources under bad input (issue #15): bad camera indices are refused before OpenCV sees them; an image folder
with unreadable files is shown with them skipped and named, refused only when nothing can be read; sources deliver
frames at their own size (the pipeline resizes once, issue #9)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from app.errors import AppError
from app.live.config import LiveConfig, PaneConfig
from app.live.engine import LiveEngine
from app.live.pipeline import LiveLoop, Mailbox
from app.live.sources import CameraSource, ImageSource, SourceConfig, SourceError, make_source
from app.models.spec import ModelSpec


@pytest.mark.parametrize("index", [-1, -100, 100, 2**40, 1.5, "0", True, None])
def test_bad_camera_index_is_a_source_error_before_opencv(index, monkeypatch):
    def boom(*_a, **_k):  # OpenCV must never be asked (CameraSource(-1) segfaulted in some backends)
        raise AssertionError("cv2.VideoCapture called with a bad index")

    monkeypatch.setattr(cv2, "VideoCapture", boom)
    with pytest.raises(SourceError, match="Camera index .* not valid: use a whole number from 0 to 99"):
        CameraSource(index)
    assert issubclass(SourceError, AppError)


def test_bad_camera_index_in_a_config_is_reported_by_the_loop(monkeypatch):
    import threading

    from app.tasks import CancelToken

    monkeypatch.setattr(cv2, "VideoCapture", lambda *_a: (_ for _ in ()).throw(AssertionError("called")))
    with pytest.raises(SourceError):
        make_source(SourceConfig("camera", camera=-1))
    mb = Mailbox()
    cfg = LiveConfig(SourceConfig("camera", camera=-1), (PaneConfig(ModelSpec.make("simple",
                                                                                  options={"widths": (4,)})),))
    loop = LiveLoop(cfg, mb, LiveEngine("cpu"))
    token = CancelToken()
    th = threading.Thread(target=loop.run, args=(token,), daemon=True)
    th.start()
    try:
        for _ in range(100):
            _, msgs = mb.take()
            errs = [m for m in msgs if m.level == "error"]
            if errs:
                break
            th.join(0.05)
    finally:
        token.cancel()
        loop.wake()
        th.join(10)
    assert errs and "Camera index -1" in errs[0].message and not errs[0].running


def _png(path, colour, size=(20, 30)):
    img = np.zeros(size + (3,), np.uint8)
    img[:] = colour
    cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))


def test_folder_whose_first_file_is_unreadable_is_shown_with_it_skipped(tmp_path):
    (tmp_path / "0_broken.png").write_bytes(b"not a png at all")
    (tmp_path / "1_empty.jpg").write_bytes(b"")
    (tmp_path / "2_dangling.png").symlink_to(tmp_path / "nowhere.png")
    _png(tmp_path / "3_red.png", (255, 0, 0))
    _png(tmp_path / "4_green.png", (0, 255, 0), (10, 12))
    src = ImageSource(tmp_path)
    src.open()
    assert sorted(src.skipped) == ["0_broken.png", "1_empty.jpg", "2_dangling.png"]
    assert "3 unreadable, skipped: 0_broken.png, 1_empty.jpg, 2_dangling.png" in src.description
    frames = [src.read() for _ in range(4)]
    assert [f.shape for f in frames] == [(20, 30, 3), (10, 12, 3)] * 2  # own sizes, cycled, unreadable ones gone
    assert tuple(frames[0][0, 0]) == (255, 0, 0) and tuple(frames[1][0, 0]) == (0, 255, 0)


def test_folder_with_no_readable_image_is_refused_naming_the_files(tmp_path):
    for name in ("a.png", "b.jpg"):
        (tmp_path / name).write_bytes(b"junk")
    with pytest.raises(SourceError, match=r"None of the 2 images in .* can be read \(a.png, b.jpg\)"):
        ImageSource(tmp_path).open()
    one = tmp_path / "a.png"
    with pytest.raises(SourceError, match="a.png: not an image OpenCV can read"):
        ImageSource(one).open()


def test_a_file_that_goes_bad_mid_stream_is_skipped(tmp_path):
    _png(tmp_path / "a.png", (255, 0, 0))
    _png(tmp_path / "b.png", (0, 0, 255))
    src = ImageSource(tmp_path)
    src.CACHE_BYTES = 0  # read from disk every time
    src.open()
    assert tuple(src.read()[0, 0]) == (255, 0, 0)
    (tmp_path / "b.png").write_bytes(b"overwritten with junk")
    assert tuple(src.read()[0, 0]) == (255, 0, 0)  # b is skipped, a shown again
    assert src.skipped == ["b.png"] and "skipped: b.png" in src.description
    (tmp_path / "a.png").unlink()
    with pytest.raises(SourceError, match="None of the 2 images"):
        src.read()


def test_frames_are_resized_once_by_the_pipeline_keeping_the_aspect(tmp_path):
    """A 28x28 sample in a 180x240 processing box is seen (and shown) 180x180, not stretched."""
    eng = LiveEngine("cpu")
    spec = ModelSpec.make("simple", options={"widths": (4,)})
    sample = np.random.default_rng(0).integers(0, 256, (28, 28, 3), dtype=np.uint8)
    with torch.inference_mode():
        lf = eng.process(sample, LiveConfig(panes=(PaneConfig(spec, 0),), size=(180, 240)))
    h, w = lf.panes[0].map_size
    assert lf.frame.shape == (180, 180, 3) and h == w and h >= 90


def test_bench_measures_the_one_resize_when_the_frame_is_larger():
    from app.live.bench import run_bench

    res = run_bench("simple", (48, 64), frames=2, options={"widths": [4]}, device="cpu", warmup=1, rounds=1,
                    frame=(96, 128))
    assert (res["size"], res["frame"], res["input"]) == ("48x64", "96x128", "48x64")
    res = run_bench("simple", (48, 64), frames=2, options={"widths": [4]}, device="cpu", warmup=1, rounds=1,
                    frame=(60, 60))
    assert res["input"] == "48x48"  # a square frame stays square
