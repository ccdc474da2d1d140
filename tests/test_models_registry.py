"""The registry (filled by decorators, option fields derived once), one loading path, the CIFAR ResNet family."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from app.models import registry
from app.models.build import build, spec_from_checkpoint
from app.models.spec import ModelSpec

ROOT = Path(__file__).resolve().parent.parent


def test_entries_are_frozen_and_derived_once():
    e = registry.get("simple")
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.description = "x"  # type: ignore[misc]
    assert registry.option_fields("simple") == list(e.options)
    assert registry.option_fields("simple")[1] is e.options[1]  # the same objects: not re-inspected per call
    assert {f.name: f.kind for f in e.options}["widths"] == "ints"
    assert "seed" in registry.constructor_params("rdsn") and "seed" in registry.constructor_params("simple")
    for name in registry.names():
        params = registry.constructor_params(name)
        assert {"in_channels", "input_size"} <= params, name
    assert "depth" not in registry.constructor_params("resnet44")  # fixed by its factory
    assert "learn_spatial" in registry.constructor_params("lc-resnet20")
    with pytest.raises(KeyError, match="unknown backbone"):
        registry.get("vgg99")


def test_every_option_has_a_tooltip_and_text_options_with_known_values_are_lists():
    """The Models workspace shows each option's tooltip: none may fall back to the bare option name, and a text
    option whose values the backbone knows is a list (a free field let "kmean" through to a build error)."""
    from app.models.options import TOOLTIPS

    for name in registry.names():
        for f in registry.option_fields(name):
            tip = f.tooltip.rsplit(" (default:", 1)[0]
            assert tip != f.name.replace("_", " ") and len(tip) > 15, (name, f.name, tip)
    fields = {f.name: f for f in registry.option_fields("patches")}
    assert fields["source"].kind == "choice" and fields["source"].choices == ("patches", "kmeans")
    assert fields["padding"].choices == ("same", "valid")
    assert "nearest" in fields["activation"].choices
    assert fields["k"].tooltip.startswith("Number of filters taken from the training patches")  # its own, not rdsn's
    assert TOOLTIPS["k"].startswith("Number of random filters")
    assert {f.name: f for f in registry.option_fields("resnet18")}["stem"].choices == ("imagenet", "cifar")


def test_old_names_stay_importable():
    from app.models import create, describe, names, register  # noqa: F401
    from app.models.base import create as c2, names as n2  # noqa: F401
    from app.models.viz import OptionField, format_option, option_fields, parse_option  # noqa: F401

    assert n2() == registry.names() and describe("rdsn") == registry.describe("rdsn")


def test_no_import_module_in_models():
    for p in (ROOT / "app" / "models").glob("*.py"):
        text = p.read_text()
        assert not re.search(r"import_module|__import__", text), p.name


def test_scalar_for_a_list_option_is_one_layer():
    m = build(ModelSpec.make("simple", options={"widths": 12, "in_channels": 1}), device="cpu")
    assert [i.channels for i in m.feature_info] == [12]
    from app.cli import build_parser
    from app.models.spec_args import spec_from_args

    args = build_parser().parse_args(["eval", "--backbone", "simple", "--weights", __file__, "--dataset", "digits",
                                      "--options", "widths=12", "in_channels=1"])
    spec = dataclasses.replace(spec_from_args(args), weights=None)
    assert [i.channels for i in build(spec, device="cpu").feature_info] == [12]


AKAMASTER = {20: "12fca82f", 32: "d509ac18", 44: "014dd654", 56: "4bfd9763", 110: "1d1ed7c2"}


@pytest.mark.parametrize("depth", sorted(AKAMASTER))
def test_cifar_resnet_family_loads_official_file_names(depth, tmp_path):
    from app.models.inputs import input_spec

    assert f"resnet{depth}" in registry.names()
    ref = registry.create(f"resnet{depth}")
    n = (depth - 2) // 6
    assert len(ref.layer1) == len(ref.layer2) == len(ref.layer3) == n
    g = torch.Generator().manual_seed(depth)
    state = {f"module.{k}": (torch.randn(v.shape, generator=g) if v.is_floating_point() else v)
             for k, v in ref.state_dict().items() if not k.endswith("num_batches_tracked")}  # as akamaster saved it
    path = tmp_path / f"resnet{depth}-{AKAMASTER[depth]}.th"
    torch.save({"best_prec1": 91.0, "state_dict": state}, path)
    spec = spec_from_checkpoint(path)
    assert spec.backbone == f"resnet{depth}" and spec.weight_state == "trained"
    m = build(spec, device="cpu")
    assert torch.equal(m.layer3[n - 1].conv2.weight, state[f"module.layer3.{n - 1}.conv2.weight"])
    assert torch.equal(m.linear.weight, state["module.linear.weight"])
    ispec = input_spec(spec, m)
    assert (ispec.channels, ispec.size) == (3, (32, 32))
    assert np.allclose(ispec.mean, (0.485, 0.456, 0.406)) and np.allclose(ispec.std, (0.229, 0.224, 0.225))
    assert ispec.source.startswith("known weights")


def test_bad_depth_is_clear():
    from app.models.build import BuildError
    from app.models.resnet_cifar import ResNetCifar

    with pytest.raises(ValueError, match="6n\\+2"):
        ResNetCifar(depth=21)
    with pytest.raises(BuildError, match="bad option"):  # the depth is the name's, not an option
        build(ModelSpec.make("resnet20", options={"depth": 32}), device="cpu")
