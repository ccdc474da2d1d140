"""Live panes that earn their pixels (issue #12), in the engine: maps per page, shared contrast across panes, the
values under the cursor, the statistics strip, the dataset sample's label."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app.imaging import maps
from app.live import stats
from app.live.config import LiveConfig, PaneConfig
from app.live.engine import LiveEngine
from app.live.sources import DatasetSource
from app.live.synthetic import SyntheticSource
from app.models.spec import ModelSpec

A = ModelSpec.make("simple", label="a", options={"widths": (6, 8)})
B = ModelSpec.make("simple", label="b", options={"widths": (5,)}, seed=7)


@pytest.fixture(scope="module")
def frame():
    src = SyntheticSource(64, 48)
    src.open()
    return src.read()


def _fmap(eng, spec, frame, size, layer):
    e = eng.entry(spec)
    x = eng.prepare(frame, e.inp, size)
    return e.model.forward_intermediates(x, [layer])[0][0]


def test_per_page_all_and_hover_values_are_the_shown_block_means(frame):
    eng = LiveEngine("cpu")
    with torch.inference_mode():
        lf = eng.process(frame, LiveConfig(panes=(PaneConfig(A, 1, 0, 10**6, aspect=3.0),), size=(48, 64),
                                           tile_max=(12, 16)))
        fmap = _fmap(eng, A, frame, (48, 64), 1)
    p = lf.panes[0]
    assert (p.first, p.count, p.channels) == (0, 8, 8)  # "all maps": every channel on one page
    assert p.grid.cols > p.grid.rows  # a wide pane gets a wide grid
    c, h, w = fmap.shape
    f = maps.shrink_factor(h, w, 12, 16)
    assert p.factor == f and p.values.shape == (8, h // f, w // f) and not p.values.flags.writeable
    ref = maps.shrink(fmap.float(), 12, 16).numpy()
    assert np.allclose(p.values, ref, atol=1e-6)
    oy, ox = p.grid.origin(5)
    ch, row, col, v = p.value_at(ox + 2, oy + 1)
    assert (ch, row, col) == (5, 1 * f, 2 * f) and v == pytest.approx(float(ref[5, 1, 2]))
    assert p.value_at(p.grid.tile_w + 0.5, 0) is None  # the gap between two tiles
    # the enlarged map: its values at full resolution
    with torch.inference_mode():
        lf = eng.process(frame, LiveConfig(panes=(PaneConfig(A, 1, 0, 4, focus=3),), size=(48, 64)))
    p = lf.panes[0]
    assert p.value_at(4, 2)[:3] == (3, 2, 4) and p.value_at(4, 2)[3] == pytest.approx(float(fmap[3, 2, 4]))


def test_shared_contrast_is_one_range_across_maps_and_panes(frame):
    eng = LiveEngine("cpu")
    panes = (PaneConfig(A, 0, 0, 4), PaneConfig(B, 0, 0, 4))
    with torch.inference_mode():
        own = eng.process(frame, LiveConfig(panes=panes, size=(48, 64)))
        shared = eng.process(frame, LiveConfig(panes=panes, size=(48, 64), contrast="shared"))
    lo = min(float(p.values.min()) for p in shared.panes)
    hi = max(float(p.values.max()) for p in shared.panes)
    for p in shared.panes:
        assert p.shared and (p.lo, p.hi) == pytest.approx((lo, hi))
    assert not any(p.shared for p in own.panes)
    assert (own.panes[0].lo, own.panes[0].hi) != (own.panes[1].lo, own.panes[1].hi)
    # the pane with the smaller values is darker under the shared range than under its own
    small = min(shared.panes, key=lambda p: float(np.abs(p.values).max()))
    i = shared.panes.index(small)
    assert shared.panes[i].mosaic.mean() != own.panes[i].mosaic.mean()


def test_statistics_strip_is_the_layer_statistics(frame):
    eng = LiveEngine("cpu")
    with torch.inference_mode():
        lf = eng.process(frame, LiveConfig(panes=(PaneConfig(A, 1, 0, 4),), size=(48, 64), stats_every=0))
        fmap = _fmap(eng, A, frame, (48, 64), 1)
    st = lf.panes[0].stats
    ref = stats.map_stats(fmap)
    assert st.channels == 8 and st.sparsity == pytest.approx(ref.sparsity)
    assert st.mean_abs == pytest.approx(ref.mean_abs) and st.frequency == pytest.approx(ref.frequency)
    assert "zeros" in st.describe()


def test_dataset_samples_keep_their_aspect_and_label(frame):
    src = DatasetSource("digits", hold=1)
    src.open()
    img = src.read()
    eng = LiveEngine("cpu")
    with torch.inference_mode():
        lf = eng.process(img, LiveConfig(panes=(PaneConfig(A, 0),), size=(120, 160)), caption=src.caption)
    assert lf.frame.shape == (120, 120, 3) and lf.caption.startswith("label: ")


def test_the_loop_hands_the_sample_label_to_the_frame():
    import threading

    from app.live.config import LiveFrame
    from app.live.pipeline import LiveLoop, Mailbox
    from app.live.sources import SourceConfig
    from app.tasks import CancelToken

    mb = Mailbox()
    loop = LiveLoop(LiveConfig(SourceConfig("dataset", dataset="digits"), (PaneConfig(A, 0),), size=(32, 32),
                               max_fps=0), mb, LiveEngine("cpu"))
    token = CancelToken()
    th = threading.Thread(target=loop.run, args=(token,), daemon=True)
    th.start()
    got = None
    try:
        for _ in range(600):
            f, _ = mb.take()
            if isinstance(f, LiveFrame):
                got = f
                break
            th.join(0.05)
    finally:
        token.cancel()
        loop.wake()
        th.join(10)
    assert got is not None and got.caption.startswith("label: ") and got.frame.shape == (32, 32, 3)
