"""The paths a GPU takes, on a GPU (skipped without CUDA; scripts/gpu-check.sh runs them on its machine).

Each compares with the same computation on the CPU: a device mismatch (a CPU tensor beside a CUDA one) stops a GPU
run at once, and no CPU-only test can see it (the patches backbone's k-means++ draw did, on an H200, 2026-12-04).
"""

from __future__ import annotations

import pytest
import torch

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]


def test_kmeans_pp_and_kmeans_run_on_the_gpu_as_on_the_cpu():
    from app.models import patch_fit as pf

    X = torch.randn(3000, 27, generator=torch.Generator().manual_seed(0))
    c_cpu = pf.kmeans_pp(X, 16, torch.Generator().manual_seed(1))
    c_gpu = pf.kmeans_pp(X.cuda(), 16, torch.Generator().manual_seed(1))
    assert c_gpu.device.type == "cuda"
    # the same seeded draws pick the same rows (float32 distances may differ in the last bits: same rows nearly always)
    assert (c_gpu.cpu() == c_cpu).all(1).float().mean() >= 0.9

    def run(task):
        try:
            while True:
                next(task)
        except StopIteration as stop:
            return stop.value

    C = run(pf.kmeans(X.cuda(), 16, epochs=2, seed=3))
    assert C.device.type == "cuda" and C.shape == (16, 27) and torch.isfinite(C).all()


def test_patches_backbone_fits_on_the_gpu():
    from app.models.patches import Patches

    m = Patches(k=32, patch_size=5, n_patches=2000, kmeans_epochs=2, seed=0).cuda()
    x = torch.rand(64, 3, 32, 32, device="cuda")
    task = m.fit_steps(x, 0, None)
    try:
        while True:
            next(task)
    except StopIteration:
        pass
    out = m.forward_features(x[:4])
    assert out.device.type == "cuda" and torch.isfinite(out).all()


def test_standardisation_on_the_gpu_matches_the_cpu():
    import numpy as np

    from app.probe import headcore

    rng = np.random.default_rng(0)
    X = (rng.normal(size=(9000, 70)) * 3 + 2).astype(np.float16)  # more rows than one chunk
    m0, i0 = headcore.standardizer(X, True)
    m1, i1 = headcore.standardizer(X, True, "cuda")
    np.testing.assert_allclose(m1, m0, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(i1, i0, rtol=1e-6)
    A0 = headcore.to_device(X, m0, i0, "cpu")
    A1 = headcore.to_device(X, m0, i0, "cuda")
    assert A1.dtype == torch.float32
    torch.testing.assert_close(A1.cpu(), A0, rtol=1e-6, atol=1e-6)


def test_features_extracted_on_the_gpu_in_float16_match_the_cpu():
    import numpy as np

    from app.models.inputs import InputSpec
    from app.models.registry import create
    from app.probe import extract as ex
    from app.tasks import run_to_end

    model = create("rdsn", k=32, in_channels=1, input_size=28, seed=0)
    images = np.random.default_rng(0).integers(0, 256, (50, 28, 28, 1), dtype=np.uint8)
    spec = InputSpec(channels=1, size=None, mean=(0.5,), std=(0.25,))
    cpu = run_to_end(ex.extract(model, images, spec, 0, "grid2", device="cpu", dtype="float16")).array
    gpu = run_to_end(ex.extract(model, images, spec, 0, "grid2", device="cuda", dtype="float16")).array
    assert gpu.dtype == np.float16 and gpu.shape == cpu.shape
    np.testing.assert_allclose(gpu.astype(np.float32), cpu.astype(np.float32), rtol=2e-3, atol=2e-3)


def test_live_frames_in_flight_on_the_gpu_are_the_serial_frames():
    """Two frames in flight on CUDA (uploads on their own stream through two pinned buffers, read-backs queued):
    each collected frame equals what the serial path makes of the same picture, for a frame shown as it is and for
    one resized on the device (which reads the upload back)."""
    import numpy as np

    from app.live.config import LiveConfig, PaneConfig
    from app.live.engine import LiveEngine
    from app.models.spec import ModelSpec

    spec = ModelSpec.make("resnet20", label="r20")
    frames = [np.random.default_rng(i).integers(0, 256, (270, 480, 3), dtype=np.uint8) for i in range(6)]
    eng = LiveEngine("cuda")
    assert eng.pipelined
    for size in ((270, 480), (135, 240)):
        cfg = LiveConfig(panes=(PaneConfig(spec, None, 0, 16), PaneConfig(spec, 0, 0, 8, focus=3)), size=size)
        with torch.inference_mode():
            ref = [eng.process(f, cfg, i) for i, f in enumerate(frames)]
            out, pending = [], None
            for i, f in enumerate(frames):
                nxt = eng.submit(f, cfg, i)
                if pending is not None:
                    out.append(eng.collect(pending))
                pending = nxt
            out.append(eng.collect(pending))
        for a, b in zip(out, ref, strict=True):
            assert a.index == b.index and np.array_equal(a.frame, b.frame)
            for p, q in zip(a.panes, b.panes, strict=True):
                assert p.error is None and q.error is None, (p.error, q.error)
                assert np.allclose(p.values, q.values, rtol=1e-3, atol=1e-3)
                assert np.mean(np.abs(p.mosaic.astype(int) - q.mosaic.astype(int)) > 1) < 1e-3
                assert p.ms > 0 and q.ms > 0  # each pane's device time (timing events), not the time to queue it


def test_batchnorms_fold_on_the_gpu():
    """The fold's check holds on CUDA (TF32 off for it): resnet20 folds 19 of 19 with random statistics, and the
    folded Live map matches the CPU's."""
    from app.live.engine import LiveEngine
    from app.models.bnfold import fold_batchnorm
    from app.models.spec import ModelSpec

    spec = ModelSpec.make("resnet20", label="r")
    maps = {}
    for dev in ("cpu", "cuda"):
        e = LiveEngine(dev, fold=False).entry(spec)
        g = torch.Generator().manual_seed(0)
        for m in e.model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g).to(dev))
                m.running_var.copy_((torch.rand(n, generator=g) * 3 + 0.2).to(dev))
        x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(1)).to(dev)
        assert fold_batchnorm(e.model, x).folded == 19
        with torch.no_grad():
            maps[dev] = e.model.forward_intermediates(x, [3])[0].float().cpu()
    assert torch.allclose(maps["cuda"], maps["cpu"], rtol=1e-2, atol=1e-2 * float(maps["cpu"].abs().max()))
