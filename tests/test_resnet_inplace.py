"""The CIFAR ResNets' ReLUs work in place: no layer the model hands out is changed by a later one, and training's
gradients are those of out-of-place ReLUs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import app.models.resnet_cifar as rc
from app.models.build import build
from app.models.spec import ModelSpec


class _OutOfPlace:
    """The reference: every ReLU makes a new tensor."""

    relu = staticmethod(lambda t, inplace=False: F.relu(t))
    pad = staticmethod(F.pad)


@pytest.fixture
def models(monkeypatch):
    def make(inplace: bool):
        monkeypatch.setattr(rc, "F", F if inplace else _OutOfPlace)
        return build(ModelSpec.make("resnet20", label="r"), torch.device("cpu"))

    return make


def _x() -> torch.Tensor:
    return torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def test_every_layer_is_that_of_out_of_place_relus(models):
    layers = {}
    for inplace in (True, False):
        model = models(inplace)
        with torch.no_grad():
            layers[inplace] = model.forward_intermediates(_x(), list(range(len(model.feature_info))), stop_early=False)
    for a, b in zip(layers[True], layers[False]):
        assert torch.equal(a, b)


def test_a_training_step_has_the_gradient_of_out_of_place_relus(models):
    grads = {}
    for inplace in (True, False):
        model = models(inplace).train()  # batch statistics, a graph through the in-place ReLUs
        x = _x().requires_grad_(True)
        (grads[inplace],) = torch.autograd.grad(model(x).logsumexp(1).sum(), x)
    assert torch.allclose(grads[True], grads[False], atol=1e-6)
