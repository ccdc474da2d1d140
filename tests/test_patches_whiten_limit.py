"""The ``patches`` backbone refuses a D x D whitening too large for memory (D = channels x patch_size^2) before it
allocates anything: the kernel generator's bound (``MAX_WHITEN_BYTES`` on the float64 covariance), a ``ModelError``
whose message the CLI prints as ``error: ...`` and the Models workspace shows; ``FILTER_EXPLORER_LIMITS=off`` lifts
it (no Qt)."""

from __future__ import annotations

import math

import pytest
import torch

from app.errors import message
from app.kernels import generators
from app.models import patch_fit as pf
from app.models.base import ModelError
from app.models.registry import create
from app.models.spec import ModelSpec
from app.tasks import run_to_end


@pytest.fixture
def no_big_matrices(monkeypatch):
    """torch.eye / torch.randn of a huge size fail loudly instead of taking a GB (so that a missing check fails the
    test fast rather than swapping the machine)."""
    eye, randn = torch.eye, torch.randn

    def guarded(real, count):
        def call(*args, **kw):
            n = count(*args)
            if n > 20_000_000:
                raise AssertionError(f"allocated {n:,} values before refusing")
            return real(*args, **kw)
        return call

    def shape(*args):
        dims = args[0] if args and isinstance(args[0], (tuple, list, torch.Size)) else args
        return math.prod(int(v) for v in dims if isinstance(v, int))

    monkeypatch.setattr(torch, "eye", guarded(eye, lambda n, m=None, *_: int(n) * int(n if m is None else m)))
    monkeypatch.setattr(torch, "randn", guarded(randn, shape))


def test_64_channels_of_15x15_patches_are_refused_in_the_constructor(no_big_matrices):
    """64 x 15 x 15: D = 14,400; the constructor made torch.eye(D) (830 MB float32) and the fit a 1.5 GB float64
    covariance, unbounded."""
    with pytest.raises(ModelError) as err:
        create("patches", in_channels=64, patch_size=15)
    msg = message(err.value)
    assert msg.startswith("patches: 64 channel(s) x 15x15 patches (14,400 values per patch)")
    assert "14,400 x 14,400 whitening matrix" in msg
    assert "float64 covariance takes 1.5 GB" in msg
    assert "over the limit of 256.0 MB (5,792 values per patch)" in msg
    assert "a patch_size of at most 9 for 64 channel(s)" in msg
    assert "an input of at most 25 channel(s) at 15x15" in msg
    assert "FILTER_EXPLORER_LIMITS=off" in msg


def test_the_bound_is_the_kernel_generator_s_and_its_edges():
    assert generators.MAX_WHITEN_DIM == 5792
    pf.check_dim(3, 43)  # 5,547 values per patch
    pf.check_dim(64, 9)  # 5,184
    pf.check_dim(1, 76)  # 5,776
    with pytest.raises(ModelError, match="1 channel"):
        pf.check_dim(1, 77)  # 5,929
    with pytest.raises(ModelError) as err:
        pf.check_dim(3, 44)  # 5,808
    assert "a patch_size of at most 43 for 3 channel(s)" in str(err.value)
    with pytest.raises(ModelError) as err:
        pf.check_dim(1, 80)
    assert "channel(s) at 80x80" not in str(err.value)  # one channel is already too many


def test_normal_sizes_still_build_and_fit():
    m = create("patches", in_channels=3, patch_size=6, k=8, n_patches=200, kmeans_epochs=1)
    assert m.D == 108 and m.zca.shape == (108, 108)
    x = torch.randn(4, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    m.fit_patches(x)
    assert int(m.fitted) == 1 and torch.isfinite(m.zca).all()


def test_the_limit_follows_the_shared_constant_and_is_lifted_by_the_environment(monkeypatch):
    monkeypatch.setattr(generators, "MAX_WHITEN_BYTES", 100 * 100 * 8)  # D <= 100
    with pytest.raises(ModelError, match=r"3 channel\(s\) x 6x6 patches \(108 values per patch\)"):
        create("patches", in_channels=3, patch_size=6)
    with pytest.raises(ModelError, match="101 values per patch"):  # the fit's own covariance too
        pf.zca(torch.randn(3, 101), 0.1)
    monkeypatch.setenv("FILTER_EXPLORER_LIMITS", "off")
    assert create("patches", in_channels=3, patch_size=6).D == 108
    W, _ = pf.zca(torch.randn(300, 101, generator=torch.Generator().manual_seed(1)), 0.1)
    assert W.shape == (101, 101)
    pf.check_dim(64, 15)  # the check allocates nothing


def test_the_models_workspace_build_fails_with_the_message(no_big_matrices):
    """The Models workspace builds a spec with ``viz.inspect_task`` on a worker; its ``failed`` signal carries
    ``app.errors.message(exc)``, which the workspace shows as "Could not build patches: <message>"."""
    from app.models import viz

    spec = ModelSpec.make("patches", options={"in_channels": 64, "patch_size": 15})
    with pytest.raises(ModelError) as err:
        run_to_end(viz.inspect_task(spec, "patches"))
    assert message(err.value).startswith("patches: 64 channel(s) x 15x15 patches")


def test_the_cli_prints_an_error_not_a_traceback(tmp_path, no_big_matrices):
    from tests.cli_inprocess import run_cli

    r = run_cli("probe", "--backbone", "patches", "--options", "patch_size=77", "--dataset", "digits",
                "--train-limit", "50", "--test-limit", "20", home=tmp_path / "home")
    assert r.returncode == 2, r.stderr
    assert "error: patches: 1 channel(s) x 77x77 patches (5,929 values per patch)" in r.stderr
    assert "a patch_size of at most 76 for 1 channel(s)" in r.stderr
    assert "Traceback" not in r.stderr
