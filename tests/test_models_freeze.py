"""Freezing says what it froze, brings a conv's batch-norm along, and LC-ResNet-20 has both arms (#10)."""

from __future__ import annotations

import pytest

from app.models.base import ModelError
from app.models.build import build
from app.models.freeze import param_counts
from app.models.spec import ModelSpec


def _frozen(m) -> set[str]:
    return {n for n, p in m.named_parameters() if not p.requires_grad}


def test_lc_resnet20_both_arms():
    frozen_arm = build(ModelSpec.make("lc-resnet20"), device="cpu")
    learned_arm = build(ModelSpec.make("lc-resnet20", options={"learn_spatial": True}), device="cpu")
    a, b = param_counts(frozen_arm), param_counts(learned_arm)
    assert a.total == b.total
    spatial = sum(p.numel() for n, p in learned_arm.named_parameters() if n.endswith("conv.weight"))
    assert spatial > 0 and b.trainable - a.trainable == spatial and a.frozen - b.frozen == spatial
    assert b.frozen == 0
    with pytest.raises(ModelError, match="learn_spatial=true"):
        build(ModelSpec.make("lc-resnet20", freeze=("all", "!kxk")), device="cpu")
    m = build(ModelSpec.make("lc-resnet20", options={"learn_spatial": True}, freeze=("all", "!kxk")), device="cpu")
    assert param_counts(m).trainable == spatial


def test_freezing_a_conv_freezes_its_batch_norm_unless_conv_only():
    spec = ModelSpec.make("simple", options={"widths": [4, 8], "batchnorm": True})
    m = build(ModelSpec.make(spec.backbone, options=dict(spec.options), freeze=("conv1",)), device="cpu")
    assert _frozen(m) == {"blocks.0.conv.weight", "blocks.0.bn.weight", "blocks.0.bn.bias"}
    assert m.fe_froze and m.fe_froze[0].startswith("conv1: frozen 3 tensor(s), ")
    m = build(ModelSpec.make(spec.backbone, options=dict(spec.options), freeze=("conv1:conv-only",)), device="cpu")
    assert _frozen(m) == {"blocks.0.conv.weight"}
    r = build(ModelSpec.make("resnet20", freeze=("conv1", "layer1.0.conv2")), device="cpu")
    assert _frozen(r) == {"conv1.weight", "bn1.weight", "bn1.bias", "layer1.0.conv2.weight", "layer1.0.bn2.weight",
                          "layer1.0.bn2.bias"}


def test_freeze_report_counts_parameters():
    from app.models.freeze import apply_freeze

    m = build(ModelSpec.make("simple", options={"widths": [4], "in_channels": 1}), device="cpu")
    lines = apply_freeze(m, ("all", "!conv1:conv-only"))
    assert lines[0].startswith("all: frozen 2 tensor(s), 40 parameters")  # 4x1x3x3 weights + 4 biases
    assert lines[1].startswith("!conv1:conv-only: trainable 2 tensor(s), 40 parameters")
    with pytest.raises(ModelError, match="matches no parameter"):
        apply_freeze(m, ("conv9",))


def test_train_prints_what_it_froze(tmp_path, capsys):
    from app.cli import run
    from tests.test_models_train import toy

    import cv2

    root = tmp_path / "imgs"
    for split, ds in (("train", toy(40, 2, 3, 8, 3)), ("test", toy(12, 3, 3, 8, 3))):
        for i, (img, y) in enumerate(zip(ds.images, ds.labels)):
            d = root / split / f"class{y}"
            d.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(d / f"{i:03d}.png"), img)
    code = run(["--threads", "1", "train", "--backbone", "simple", "--dataset", f"imagefolder:{root}", "--options",
                "widths=4", "batchnorm=true", "--freeze", "conv1", "--max-steps", "1", "--out", str(tmp_path / "c")])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "freeze conv1: frozen 3 tensor(s)" in out.out and "input: 3 channel(s), 8x8" in out.out
