"""A Live pane's arithmetic (``app.live.precision``, the Live view's Precision): float32 unless asked, bfloat16
autocast on a CPU with native bfloat16 when "fast", float16 on CUDA as before; the maps of a 16-bit forward stay
within its rounding of the float32 maps; the pane says what it ran in; the bench's bare forward runs in the same."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app.live import precision as prec
from app.live.config import PRECISIONS, LiveConfig, PaneConfig
from app.live.engine import LiveEngine
from app.live.synthetic import SyntheticSource
from app.models.spec import ModelSpec

RESNET = ModelSpec.make("resnet20", label="r20")
CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.fixture
def native(monkeypatch):
    """Pretend the CPU has (True) or lacks (False) native bfloat16: autocast emulates it where it is missing."""
    def set_(value: bool) -> None:
        monkeypatch.setattr(prec, "cpu_bfloat16_native", lambda: value)
    return set_


def test_the_arithmetic_each_precision_asks_for(native):
    native(True)
    assert prec.forward_dtype(CPU, "auto") is None  # a CPU shows float32 unless asked
    assert prec.forward_dtype(CPU, "full") is None
    assert prec.forward_dtype(CPU, "fast") is torch.bfloat16
    assert prec.forward_dtype(CUDA, "auto") is torch.float16  # as before: fp16 autocast on CUDA
    assert prec.forward_dtype(CUDA, "auto", amp=False) is None  # bench live --no-amp
    assert prec.forward_dtype(CUDA, "full") is None
    assert prec.forward_dtype(CUDA, "fast", amp=False) is torch.float16
    native(False)
    assert prec.forward_dtype(CPU, "fast") is None  # emulated bfloat16 would be slower: float32
    with pytest.raises(ValueError, match="precision must be one of auto, full, fast"):
        prec.forward_dtype(CPU, "half")
    assert [prec.name(d) for d in (None, torch.bfloat16, torch.float16)] == ["float32", "bfloat16", "float16"]
    from app.live.cli import PRECISION_CHOICES

    assert PRECISION_CHOICES == PRECISIONS  # the commands offer what the core knows


def _frames(n: int) -> list[np.ndarray]:
    src = SyntheticSource(64, 48)
    src.open()
    out = [src.read() for _ in range(n)]
    src.close()
    return out


def test_fast_maps_on_the_cpu_are_the_float32_maps_to_bfloat16_rounding(native):
    native(True)
    eng = LiveEngine("cpu")
    frames = _frames(3)
    full = LiveConfig(panes=(PaneConfig(RESNET, 3, 0, 16),), size=(48, 64), stats_every=0, max_fps=0)
    fast = LiveConfig(panes=(PaneConfig(RESNET, 3, 0, 16),), size=(48, 64), stats_every=0, max_fps=0,
                      precision="fast")
    with torch.inference_mode():
        for f in frames:
            a, b = eng.process(f, full).panes[0], eng.process(f, fast).panes[0]
            assert a.error is None and b.error is None
            assert b.values.dtype == np.float32 and b.values.shape == a.values.shape
            err = np.abs(b.values - a.values).max() / np.abs(a.values).max()
            assert 0 < err < 0.03, err  # rounded (not the same numbers), but the same maps
            assert b.mosaic.shape == a.mosaic.shape
            assert b.stats.sparsity == pytest.approx(a.stats.sparsity, abs=0.02)
            assert b.stats.mean_abs == pytest.approx(a.stats.mean_abs, rel=0.02)
        e = eng.entry(RESNET)
        dtypes = {k[2] for k in e.channels_last}  # the memory format chosen for each arithmetic on its own
        assert dtypes == {None, torch.bfloat16}
    assert "bfloat16 autocast" in b.note and "can differ visibly" in b.note
    assert b.stats.describe().endswith(" · bfloat16 maps") and "bfloat16 maps: " in b.stats.explain()
    assert "maps" not in a.stats.describe().split("|corr|")[1]  # float32: no mark
    assert "computed in float32" in a.note and "batch norms are folded" in a.note


def test_auto_on_the_cpu_is_float32_to_the_bit(native):
    native(True)
    eng = LiveEngine("cpu")
    f = _frames(1)[0]
    auto = LiveConfig(panes=(PaneConfig(RESNET, 3, 0, 16),), size=(48, 64), max_fps=0)
    with torch.inference_mode():
        a = eng.process(f, auto).panes[0]
        b = eng.process(f, LiveConfig(panes=auto.panes, size=(48, 64), max_fps=0, precision="full")).panes[0]
    assert np.array_equal(a.values, b.values) and a.note == b.note


def test_fast_on_a_cpu_without_native_bfloat16_says_it_ran_float32(native):
    native(False)
    eng = LiveEngine("cpu")
    cfg = LiveConfig(panes=(PaneConfig(RESNET, 3, 0, 16),), size=(48, 64), max_fps=0, precision="fast")
    with torch.inference_mode():
        r = eng.process(_frames(1)[0], cfg).panes[0]
    assert r.error is None and "no native bfloat16" in r.note


def test_the_bench_runs_its_bare_forward_in_the_same_arithmetic(native, monkeypatch):
    from app.live import bench

    native(True)
    seen = []  # the dtype of every forward's first convolution, app and bare
    real_entry = LiveEngine.entry

    def entry(self, spec):
        e = real_entry(self, spec)
        if not getattr(e.model, "_spied", False):
            e.model._spied = True
            e.model.conv1.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
        return e

    monkeypatch.setattr(LiveEngine, "entry", entry)
    res = bench.run_bench(size=(32, 48), frames=4, warmup=1, rounds=1, device="cpu", precision="fast")
    assert res["precision"] == "bfloat16" and res["amp_fp16"] is False
    assert len(seen) >= 8 and set(seen) == {torch.bfloat16}  # every timed forward, app and bare alike
    res = bench.run_bench(size=(32, 48), frames=4, warmup=1, rounds=1, device="cpu")
    assert res["precision"] == "float32"



@pytest.fixture
def tf32_on():
    """cuDNN's default (TF32 convolutions) and TF32 matrix products on, as a user's script may set them; put back."""
    before = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True  # (a property: not monkeypatch)
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


def _tf32() -> tuple[bool, bool]:
    return torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32


def test_float32_on_cuda_is_float32_not_tf32(tf32_on):
    """A float32 pane on CUDA ("full", or "auto" with amp off) runs with TF32 off: cuDNN's default would multiply
    10-bit mantissas (~1e-3 relative) while the pane says float32. The CPU's and the 16-bit contexts leave the flags
    alone; the flags come back after."""
    with prec.autocast(CUDA, None):
        assert _tf32() == (False, False)
    assert _tf32() == (True, True)
    with prec.autocast(CPU, None):
        assert _tf32() == (True, True)
    assert "TF32" in prec.describe(None, "full", CUDA) and "TF32" not in prec.describe(None, "full", CPU)


def test_exact_float32_blocks_nest_and_overlap_across_threads(tf32_on):
    """The flags are process-wide: a Live pane's block and a batch-norm fold's check in another thread may overlap
    in any order; the flags stay off while any block is open and come back when the last one ends (a save and
    restore per block would leave them off for good after A in, B in, A out, B out)."""
    import threading

    from app.device import exact_float32

    a, b = exact_float32(), exact_float32()
    a.__enter__()
    inside = threading.Event()
    release = threading.Event()
    seen = []

    def other():
        with b:
            inside.set()
            release.wait(5)
        seen.append(_tf32())

    t = threading.Thread(target=other)
    t.start()
    assert inside.wait(5)
    a.__exit__(None, None, None)  # A ends first, B still open
    assert _tf32() == (False, False)
    release.set()
    t.join(5)
    assert seen == [(True, True)] and _tf32() == (True, True)
    with exact_float32(), exact_float32():  # nested in one thread
        assert _tf32() == (False, False)
    assert _tf32() == (True, True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.cuda
def test_on_cuda_auto_and_fast_are_float16_and_full_is_float32():
    eng = LiveEngine("cuda")
    f = _frames(1)[0]
    base = LiveConfig(panes=(PaneConfig(RESNET, 3, 0, 16),), size=(48, 64), stats_every=0, max_fps=0)
    out = {}
    with torch.inference_mode():
        for p in PRECISIONS:
            out[p] = eng.process(f, LiveConfig(panes=base.panes, size=(48, 64), stats_every=0, max_fps=0,
                                               precision=p)).panes[0]
    assert "float16 autocast" in out["auto"].note and "float16 autocast" in out["fast"].note
    assert "computed in float32" in out["full"].note and "TF32" in out["full"].note
    err = np.abs(out["auto"].values - out["full"].values).max() / np.abs(out["full"].values).max()
    assert err < 0.01
    # full is float32, not cuDNN's TF32 (~1e-3 relative): the CPU's float32 map to float32 rounding
    cpu = LiveEngine("cpu").process(f, LiveConfig(panes=base.panes, size=(48, 64), stats_every=0, max_fps=0,
                                                  precision="full")).panes[0]
    err32 = np.abs(cpu.values - out["full"].values).max() / np.abs(cpu.values).max()
    assert err32 < 1e-4, err32


def test_statistics_follow_a_change_of_precision_at_once(native):
    """The statistics are kept per pane layer and arithmetic: switching to fast does not show float32's figures
    (marked bfloat16) for the next seconds, nor the other way round."""
    native(True)
    eng = LiveEngine("cpu")
    f = _frames(1)[0]
    slow = LiveConfig(panes=(PaneConfig(RESNET, 3, 0, 16),), size=(48, 64), max_fps=0, stats_every=3600.0)
    with torch.inference_mode():
        a = eng.process(f, slow).panes[0].stats
        b = eng.process(f, LiveConfig(panes=slow.panes, size=(48, 64), max_fps=0, stats_every=3600.0,
                                      precision="fast")).panes[0].stats
        c = eng.process(f, slow).panes[0].stats
    assert (a.arithmetic, b.arithmetic, c.arithmetic) == ("float32", "bfloat16", "float32")
    assert b.mean_abs != a.mean_abs and c == a  # its own figures; float32's kept ones again
