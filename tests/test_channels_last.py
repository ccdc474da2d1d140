"""Every batch from ``to_tensor`` is stored channels-last (``app.models.inputs.channels_last``): the same values as
the NCHW computation, the memory order torch's CPU convolutions and pooling are fastest with (the speed is a
benchmark, docs/benchmarks/probe.md; not timed here)."""

import numpy as np
import pytest
import torch

from app.models.inputs import InputSpec, channels_last, to_tensor
from app.models.registry import create


def _nhwc_strides(x):
    n, c, h, w = x.shape
    return (c * h * w, 1, w * c, c)


@pytest.mark.parametrize("channels", [1, 3])
def test_to_tensor_is_channels_last_with_the_normalised_values(channels):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (4, 6, 5, channels), dtype=np.uint8)
    mean, std = (0.5,) * channels, (0.25,) * channels
    x = to_tensor(images, InputSpec(channels, None, mean, std))
    assert x.shape == (4, channels, 6, 5)
    assert x.stride() == _nhwc_strides(x)  # C = 1 too: channel stride 1, not H W
    by_hand = (images.astype(np.float32) / 255.0 - 0.5) / 0.25  # (N, H, W, C)
    assert np.allclose(x.permute(0, 2, 3, 1).numpy(), by_hand, atol=1e-5)


def test_channels_last_keeps_values_and_leaves_a_channels_last_batch_alone():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)  # NCHW
    y = channels_last(x)
    assert torch.equal(y, x) and y.stride() == (60, 1, 15, 3)
    assert channels_last(y) is y
    grey = torch.zeros(2, 1, 4, 5)  # contiguous NCHW with channel stride 20: restrided to 1
    assert channels_last(grey).stride() == (20, 1, 5, 1)
    flat = torch.arange(6.0).reshape(2, 3).t()
    assert channels_last(flat).is_contiguous() and torch.equal(channels_last(flat), flat)
    assert channels_last(torch.zeros(0, 3, 2, 2)).shape == (0, 3, 2, 2)


def test_a_model_gives_the_same_features_for_either_order():
    m = create("rdsn", k=16, blocks=1, in_channels=3, activation="relu", seed=0)
    x = torch.randn(3, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a = m.extract_pooled(x.contiguous(), pool=2, layer=1)
        b = m.extract_pooled(channels_last(x), pool=2, layer=1)
    assert torch.allclose(a, b, atol=1e-4, rtol=1e-5)


class _ViewNet(torch.nn.Module):
    """A model file's typical code: ``x.view(n, -1)`` after its convolutions (fails on channels-last maps)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(channels, 4, 5)
        self.fc = torch.nn.Linear(4 * 12 * 12, 10)

    def forward(self, x):
        x = torch.nn.functional.max_pool2d(torch.relu(self.conv(x)), 2)
        return self.fc(x.view(x.size(0), -1))


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("script", [False, True])
def test_an_imported_model_that_views_its_maps_runs_on_the_channels_last_batches(channels, script):
    from app.models.evaluate import predict
    from app.models.external.backbone import ExternalBackbone
    from app.tasks import run_to_end

    torch.manual_seed(0)
    net = _ViewNet(channels).eval()
    model = ExternalBackbone(torch.jit.script(net) if script else net, size=(28, 28), channels=channels)
    images = np.random.default_rng(1).integers(0, 256, (5, 28, 28, channels), dtype=np.uint8)
    ispec = InputSpec(channels, (28, 28), (0.5,) * channels, (0.25,) * channels)
    x = to_tensor(images, ispec)
    assert x.stride() == _nhwc_strides(x)  # what the model is handed
    with torch.no_grad():
        expected = net(torch.empty(x.shape).copy_(x))  # torch's default layout
        assert torch.allclose(model(x), expected, atol=1e-5)
        maps = model.forward_intermediates(x, [0])[0]
    assert maps.shape[:2] == (5, 4)
    scores = run_to_end(predict(model, images, ispec))
    assert np.allclose(scores, expected.numpy(), atol=1e-4)


def test_a_read_only_batch_converts_without_a_warning_and_stays_untouched(recwarn):
    """A memmap or a cached dataset's view is read-only: to_tensor gives the same values and torch's "not writable"
    warning never reaches the user (the CLI printed it during the random-mnist preset)."""
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3, 4, 4, 1), dtype=np.uint8)
    frozen = images.copy()
    frozen.flags.writeable = False
    x = to_tensor(frozen, InputSpec(1, None, (0.5,), (0.25,)))
    assert torch.equal(x, to_tensor(images, InputSpec(1, None, (0.5,), (0.25,))))
    assert not [w for w in recwarn if "not writable" in str(w.message)]
    assert np.array_equal(frozen, images)
