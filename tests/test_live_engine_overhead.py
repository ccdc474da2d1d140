"""The per-frame shortcuts of ``LiveEngine.process``: the input shown beside the panes is the frame itself when the
models saw it unresized (values identical to the device round trip), resized frames still take the device path;
one read-back for a pane's range; the CUDA upload's two pinned staging buffers (driven here with stand-ins for the
CUDA parts: a CPU test cannot pin memory) are used in turn and never rewritten before the copy out of them
finished."""

import numpy as np
import pytest
import torch

from app.live import engine as engmod
from app.live import transfer
from app.live.config import LiveConfig, PaneConfig
from app.live.engine import LiveEngine
from app.models.spec import ModelSpec

TINY = ModelSpec.make("simple", label="tiny", options={"widths": (4, 6), "pool": "max"})


def _frame(h=48, w=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _device_path(eng, frame, size):
    """The round trip through the device, as process() shows a resized frame."""
    with torch.inference_mode():
        x = eng._sized(eng.to_tensor(frame), engmod._SHOWN, size, {})
        return x[0].round().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous().cpu().numpy()


def _spy_shown(eng, monkeypatch):
    calls = []
    orig = eng._sized

    def spy(x255, ispec, size, cache, crop=False):
        if ispec is engmod._SHOWN:
            calls.append(tuple(size))
        return orig(x255, ispec, size, cache, crop)

    monkeypatch.setattr(eng, "_sized", spy)
    return calls


def _processed(eng, frame, size):
    with torch.inference_mode():
        return eng.process(frame, LiveConfig(panes=(PaneConfig(TINY, 0, 0, 4),), size=size))


def _shown_at(monkeypatch, size):
    """(engine, frame, the device round trip's picture, the spied resizes, the processed LiveFrame) at ``size``."""
    eng = LiveEngine("cpu")
    f = _frame()
    ref = _device_path(eng, f, size)
    calls = _spy_shown(eng, monkeypatch)
    return eng, f, ref, calls, _processed(eng, f, size)


def test_unresized_frame_is_shown_as_a_host_copy_equal_to_the_device_round_trip(monkeypatch):
    eng, f, ref, calls, lf = _shown_at(monkeypatch, (48, 64))
    assert calls == []  # no device round trip
    assert lf.frame.dtype == np.uint8 and np.array_equal(lf.frame, ref) and np.array_equal(lf.frame, f)
    assert not np.shares_memory(lf.frame, f) and lf.frame.flags.c_contiguous
    view = f[:, ::-1]  # a strided frame: still shown as an owned, C-ordered copy of the same values
    lf = _processed(eng, view, (48, 64))
    assert np.array_equal(lf.frame, view) and lf.frame.flags.c_contiguous and not np.shares_memory(lf.frame, f)


def test_resized_frame_still_goes_through_the_device(monkeypatch):
    _, _, ref, calls, lf = _shown_at(monkeypatch, (24, 32))
    assert calls == [(24, 32)]
    assert lf.frame.shape == (24, 32, 3) and np.array_equal(lf.frame, ref)


@pytest.mark.parametrize("focus", [None, 2])
def test_pane_range_is_its_shown_values_min_and_max(focus):
    eng = LiveEngine("cpu")
    with torch.inference_mode():
        lf = eng.process(_frame(), LiveConfig(panes=(PaneConfig(TINY, 1, 0, 6, focus=focus),), size=(48, 64),
                                              colormap="viridis"))
    p = lf.panes[0]
    assert p.error is None and isinstance(p.lo, float) and isinstance(p.hi, float)
    assert p.lo == float(p.values.min()) and p.hi == float(p.values.max()) and p.lo < p.hi


class _Uploader(transfer.Uploader):
    """The uploader with its CUDA copy (stream, event) replaced by a logged stand-in: a CPU test cannot pin memory."""

    def __init__(self, log):
        super().__init__("cpu")
        self.log = log

    def _copy(self, buf, event):
        i = next(j for j, b in enumerate(self.buffers) if b is buf)
        self.log.append(f"copy{i}")
        return buf.clone(), event or _Event(self.log, i)


class _Event:
    def __init__(self, log, i):
        self.log, self.i = log, i

    def synchronize(self):
        self.log.append(f"sync{self.i}")


def test_cuda_upload_buffers_alternate_and_are_waited_for(monkeypatch):
    log = []
    made = []

    def pinned_empty(shape):
        made.append(tuple(shape))
        return torch.empty(shape, dtype=torch.uint8)

    real_copyto = np.copyto

    def copyto(dst, src):
        log.append("write")
        real_copyto(dst, src)

    monkeypatch.setattr(transfer, "pinned_empty", pinned_empty)
    monkeypatch.setattr(transfer.np, "copyto", copyto)
    up = _Uploader(log)
    a, b, c, d = _frame(seed=1), _frame(seed=2), _frame(seed=3), _frame(24, 32, seed=4)
    xa, xb, xc = up(a), up(b), up(c)
    assert made == [(48, 64, 3)] * 2  # two buffers, used in turn
    assert all(np.array_equal(x.numpy(), f) for x, f in ((xa, a), (xb, b), (xc, c)))
    # a buffer is rewritten only once the copy out of it (two frames earlier) has finished; the other is not waited on
    assert log == ["write", "copy0", "write", "copy1", "sync0", "write", "copy0"]
    xd = up(d)  # a new size: that slot gets a new buffer
    assert made == [(48, 64, 3)] * 2 + [(24, 32, 3)] and np.array_equal(xd.numpy(), d)
    assert log[-3:] == ["sync1", "write", "copy1"]


def test_cpu_upload_uses_no_staging_buffer():
    eng = LiveEngine("cpu")
    f = _frame()
    x = eng.to_tensor(f)
    assert eng.uploader is None and not eng.pipelined
    assert x.shape == (1, 3, 48, 64) and torch.equal(x[0].permute(1, 2, 0), torch.from_numpy(f).float())
