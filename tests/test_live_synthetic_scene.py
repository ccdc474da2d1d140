"""The synthetic scene drawn from pieces made once (a pan over a pre-scaled canvas, a grating patch, shapes):
new memory per frame, the grating really drawn into the frame, a pan that moves, any size."""

import numpy as np
import pytest

from app.live.sources import SourceError
from app.live.synthetic import SyntheticSource


def _open(w, h):
    s = SyntheticSource(w, h)
    s.open()
    return s


def test_each_frame_is_new_memory_never_the_canvas():
    s = _open(320, 240)
    f0, f1 = s.read(), s.read()
    assert f0.flags.owndata and f0.flags.c_contiguous and f0.flags.writeable
    assert not np.shares_memory(f0, s._canvas) and not np.shares_memory(f0, f1)
    before = s._canvas.copy()
    f1[:] = 0  # a consumer scribbling on its frame changes nothing for the next one
    assert np.array_equal(s._canvas, before)


def test_the_grating_is_drawn_into_the_frame_grey_and_varied():
    s = _open(320, 240)
    f = s.read()
    r = s._grating_r
    gx, gy = int(320 * 0.78), int(240 * 0.30)  # t = 0: the grating's centre
    patch = f[gy - r // 2:gy + r // 2, gx - r // 2:gx + r // 2].astype(int)
    assert (patch[..., 0] == patch[..., 1]).all() and (patch[..., 1] == patch[..., 2]).all()  # grey
    assert patch.min() < 40 and patch.max() > 215  # full-contrast stripes, not the photo


def test_the_pan_moves_the_background_and_the_scene_is_deterministic():
    a, b = _open(320, 240), _open(320, 240)
    frames = [a.read() for _ in range(40)]
    assert all(np.array_equal(f, b.read()) for f in frames)
    corner0, corner39 = frames[0][:20, :20].astype(int), frames[39][:20, :20].astype(int)
    assert np.abs(corner0 - corner39).mean() > 2  # the top-left corner (no shapes there) shows other photo pixels


@pytest.mark.parametrize("w,h", [(16, 16), (17, 300), (1920, 1080), (97, 61)])
def test_any_size(w, h):
    s = _open(w, h)
    for _ in range(3):
        f = s.read()
        assert f.shape == (h, w, 3) and f.dtype == np.uint8 and f.std() > 10


def test_read_before_open_and_after_close():
    s = SyntheticSource(64, 48)
    with pytest.raises(SourceError, match="before open"):
        s.read()
    s.open()
    s.read()
    s.close()
    with pytest.raises(SourceError, match="before open"):
        s.read()
    with pytest.raises(SourceError, match="too small"):
        SyntheticSource(8, 64).open()
