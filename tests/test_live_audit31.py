"""Live details an audit found (session 31): a fixed-size model (lenet5, 32x32) saw a 2:1 frame stretched to its
square (a disc became a 2:1 ellipse) while the same pane's Top-5 saw the frame's centre, round."""

from __future__ import annotations

import numpy as np

from app.live.config import LiveConfig, PaneConfig
from app.live.engine import LiveEngine
from app.models.spec import ModelSpec


def _disc(h: int, w: int, r: int) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    img = np.zeros((h, w, 3), np.uint8)
    img[(yy - h / 2) ** 2 + (xx - w / 2) ** 2 <= r * r] = 255
    return img


def _extent(mask: np.ndarray) -> tuple[int, int]:
    rows, cols = np.nonzero(mask)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def test_a_fixed_size_model_sees_the_frames_centre_at_its_aspect_never_squashed():
    eng = LiveEngine("cpu")
    seen = []
    forward = eng.forward

    def spy(entry, x, layer, *rest):
        seen.append(x.detach().clone())
        return forward(entry, x, layer, *rest)

    eng.forward = spy
    spec = ModelSpec.make("lenet5")
    cfg = LiveConfig(panes=(PaneConfig(spec, 0, 0, 16),), size=(120, 240), max_fps=0)
    eng.process(_disc(120, 240, 50), cfg)
    (x,) = seen
    assert tuple(x.shape[-2:]) == (32, 32)
    img = x[0, 0].numpy()
    h, w = _extent(img > (img.max() + img.min()) / 2)
    assert abs(h - w) <= 1, (h, w)  # round (it was 27 x 14: squashed)


def test_a_recording_keeps_the_aspect_of_a_composite_that_changed_shape():
    """The writer's size is its first frame's; a later, wider composite (a pane added) was stretched to it."""
    from app.imaging.maps import GAP
    from app.live.pipeline import letterbox

    wide = np.zeros((40, 160, 3), np.uint8)
    wide[:, :, 0] = 200
    out = letterbox(wide, (80, 80))  # W x H
    assert out.shape == (80, 80, 3)
    rows = np.nonzero(out[:, 40, 0] == 200)[0]
    assert len(rows) == 20 and rows[0] == 30  # 160x40 scaled by 1/2: 80x20, centred
    assert (out[:30, :, 0] == GAP).all() and (out[50:, :, 0] == GAP).all()


def test_the_recorder_letterboxes_a_later_wider_frame(tmp_path):
    import cv2

    from app.live.pipeline import Recorder

    rec = Recorder(tmp_path / "out.avi", fps=10)
    first = np.full((80, 80, 3), 40, np.uint8)
    wide = np.zeros((40, 160, 3), np.uint8)
    wide[:, :, 0] = 220  # red: where it lands says how the frame was scaled (the gap colour is grey or white)
    rec.write(first)
    rec.write(wide)
    rec.close()
    cap = cv2.VideoCapture(str(tmp_path / "out.avi"))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
    cap.release()
    assert len(frames) == 2 and frames[1].shape[:2] == (80, 80)
    col = frames[1][:, 40].astype(int)
    red = np.nonzero((col[:, 0] > 150) & (col[:, 1] < 90))[0]
    assert 18 <= len(red) <= 22 and 28 <= red[0] <= 32  # 80x20 in the middle, not stretched over all 80 rows

