"""Batch norms folded into their convolutions (app.models.bnfold): the same maps, or the model left as it was."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from app.live.config import LiveConfig, PaneConfig
from app.live.engine import LiveEngine, default_layer
from app.models.base import Backbone, LayerInfo
from app.models.build import build
from app.models.bnfold import count_batchnorms, example_input, fold_batchnorm
from app.models.spec import ModelSpec


def _random_statistics(model: nn.Module, seed: int = 0) -> None:
    """Batch norms that change their input a lot (a fold into the wrong convolution, or none, shows)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g))
            m.running_var.copy_(torch.rand(n, generator=g) * 3 + 0.2)
            m.weight.data.copy_(torch.randn(n, generator=g))
            m.bias.data.copy_(torch.randn(n, generator=g))


def _layers(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    with torch.no_grad():
        return model.forward_intermediates(x, list(range(len(model.feature_info))))


def _x(c: int = 3, h: int = 32, w: int = 32, seed: int = 1) -> torch.Tensor:
    return torch.randn(1, c, h, w, generator=torch.Generator().manual_seed(seed))


def test_resnet20_folds_every_batchnorm_and_computes_the_same_maps():
    model = build(ModelSpec.make("resnet20", label="r"), torch.device("cpu"))
    _random_statistics(model)
    x, other = _x(), _x(h=48, w=64, seed=5)  # checked on another size than the one folded with
    want, want_other = _layers(model, x), _layers(model, other)
    report = fold_batchnorm(model, x)
    assert (report.folded, report.batchnorms) == (19, 19)
    assert count_batchnorms(model) == 0  # each one replaced by an identity
    for a, b in zip(want + want_other, _layers(model, x) + _layers(model, other)):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-4)
    assert float((want[-1] - _layers(model, x)[-1]).abs().max()) < 1e-3 * float(want[-1].abs().max())


class _PreActivation(Backbone):
    """Batch norm before the convolution (a pre-activation block): nothing to fold into."""

    def __init__(self) -> None:
        super().__init__()
        self.default_input = (3, 16, 16)
        self.bn = nn.BatchNorm2d(3)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.feature_info = [LayerInfo("block", 4, 1, "block")]

    def stages(self):
        return [(self.feature_info[0], lambda x: self.conv(torch.relu(self.bn(x))))]


class _ConvReadTwice(Backbone):
    """The convolution's output feeds its batch norm and, besides, the sum: folding would change the sum."""

    def __init__(self) -> None:
        super().__init__()
        self.default_input = (3, 16, 16)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.feature_info = [LayerInfo("block", 4, 1, "block")]

    def _block(self, x):
        y = self.conv(x)
        return self.bn(y) + y

    def stages(self):
        return [(self.feature_info[0], self._block)]


class _SharedBatchnorm(Backbone):
    """One batch norm module after two convolutions: folding it into one would leave the other wrong."""

    def __init__(self) -> None:
        super().__init__()
        self.default_input = (3, 16, 16)
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.feature_info = [LayerInfo("block", 4, 1, "block")]

    def stages(self):
        return [(self.feature_info[0], lambda x: self.bn(self.a(x)) + self.bn(self.b(x)))]


def _unchanged(model: nn.Module, expect_folded: int) -> None:
    model.eval()
    _random_statistics(model)
    x = _x(h=16, w=16)
    want = _layers(model, x)
    modules = list(model.modules())
    report = fold_batchnorm(model, x)
    assert report.folded == expect_folded
    assert report.batchnorms == 1 and report.reason
    assert list(model.modules()) == modules  # every module back in its place
    for a, b in zip(want, _layers(model, x)):
        assert torch.equal(a, b)


def test_a_batchnorm_before_its_convolution_is_left_alone():
    _unchanged(_PreActivation(), 0)


def test_a_convolution_read_twice_is_put_back_after_the_check():
    # the pair looks foldable (the batch norm's input is the conv's output); the check against the original finds
    # the sum changed, and every module goes back
    model = _ConvReadTwice()
    _unchanged(model, 0)
    assert "computes something else" in fold_batchnorm(model, _x(h=16, w=16)).reason


def test_a_shared_batchnorm_is_not_folded():
    _unchanged(_SharedBatchnorm(), 0)


def test_a_model_in_training_mode_is_not_touched():
    model = build(ModelSpec.make("resnet20", label="r"), torch.device("cpu")).train()
    report = fold_batchnorm(model, _x())
    assert report.folded == 0 and count_batchnorms(model) == 19


def test_live_panes_show_the_same_maps_folded_or_not():
    spec = ModelSpec.make("resnet20", label="r")
    frame = (np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)
    results = {}
    for fold in (True, False):
        engine = LiveEngine("cpu", fold=False)  # built as is, then given telling statistics (the same in both)
        e = engine.entry(spec)
        _random_statistics(e.model)
        if fold:
            assert fold_batchnorm(e.model, example_input(e.model, "cpu")).folded == 19
        cfg = LiveConfig(panes=(PaneConfig(spec, default_layer(e.layers), 0, 16),), size=(48, 64), max_fps=0)
        with torch.inference_mode():
            results[fold] = engine.process(frame, cfg).panes[0]
    folded, plain = results[True], results[False]
    assert folded.values.std() > 0
    assert np.allclose(folded.values, plain.values, rtol=1e-4, atol=1e-4 * float(np.abs(plain.values).max()))


def test_live_entries_fold_by_default_and_say_so():
    e = LiveEngine("cpu").entry(ModelSpec.make("resnet20", label="r"))
    assert e.fold.as_dict() == {"folded": 19, "batchnorms": 19}
    off = LiveEngine("cpu", fold=False).entry(ModelSpec.make("resnet20", label="r"))
    assert off.fold.as_dict() == {"folded": 0, "batchnorms": 19, "reason": "folding off"}
    assert LiveEngine("cpu").entry(ModelSpec.make("rdsn", label="d")).fold.as_dict() == {"folded": 0, "batchnorms": 0}


def test_the_trained_resnet20_keeps_its_answers(shared):
    from app.models.build import spec_from_checkpoint

    path = shared("weights", "resnet20_cifar10-12fca82f.th")
    model = build(spec_from_checkpoint(path), torch.device("cpu"))
    x = torch.randn(64, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        want = model(x)
    assert fold_batchnorm(model, x[:1]).folded == 19
    with torch.no_grad():
        got = model(x)
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-4 * float(want.abs().max()))
    assert torch.equal(got.argmax(1), want.argmax(1))


def test_the_check_runs_in_full_float32_precision_and_restores_the_flags(monkeypatch):
    """On CUDA, cuDNN's default TF32 convolutions differ from float32 by ~1e-3: the folded model would never pass the
    check there. The check switches TF32 off for itself and puts the flags back."""
    before = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True  # (not monkeypatch: a property)
    try:
        _check_in_full_precision(monkeypatch)
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


def _check_in_full_precision(monkeypatch):
    from app.models import bnfold as fold

    seen = []
    real = fold._outputs

    def spy(m, x):
        seen.append((torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32))
        return real(m, x)

    monkeypatch.setattr(fold, "_outputs", spy)
    model = build(ModelSpec.make("resnet20", label="r"), torch.device("cpu"))
    assert fold_batchnorm(model, _x()).folded == 19
    assert seen and all(flags == (False, False) for flags in seen)
    assert torch.backends.cudnn.allow_tf32 is True and torch.backends.cuda.matmul.allow_tf32 is True
