"""Property-based: any sidecar a user (or a damaged disk) can produce either loads or raises the project's own
error, never another exception (#15). Bounded: small models, few examples."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.errors import AppError
from app.models.build import build, spec_from_checkpoint
from app.models.spec import ModelSpec
from app.models.weights import save_checkpoint

SPEC = ModelSpec.make("simple", options={"in_channels": 1, "widths": [2]})

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 2**40), st.floats(allow_nan=True),
                    st.text(max_size=6))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=5), inner, max_size=3)),
                      max_leaves=6)
option_values = st.one_of(values, st.lists(st.integers(-2, 10**6), max_size=3), st.integers(-2, 10**7))
options = st.dictionaries(st.sampled_from(["widths", "kernel_size", "stride", "pool", "activation", "batchnorm",
                                           "in_channels", "input_size", "num_classes", "seed", "bogus"]),
                          option_values, max_size=3)
architectures = st.fixed_dictionaries({}, optional={
    "backbone": st.one_of(st.sampled_from(["simple", "rdsn", "resnet20", "nope"]), values),
    "options": st.one_of(options, values), "freeze": st.one_of(st.lists(st.text(max_size=6), max_size=2), values),
    "seed": values, "init": st.one_of(st.sampled_from(["default", "kaiming", "gaussian:x"]), values),
    "banks": values, "label": values})
sidecars = st.fixed_dictionaries({}, optional={
    "architecture": st.one_of(architectures, values), "input": st.one_of(values, st.fixed_dictionaries(
        {"channels": st.sampled_from([1, 3, 2, "x"])}, optional={"size": values, "mean": values, "std": values})),
    "dataset": values, "num_classes": values, "epoch": values})


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    m = build(SPEC, device="cpu")
    st_path, _ = save_checkpoint(m, tmp_path_factory.mktemp("fuzz") / "ck", SPEC, dataset="mnist")
    return st_path


@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(side=sidecars)
def test_any_sidecar_loads_or_is_a_clear_error(ckpt, side):
    ckpt.with_suffix(".json").write_text(json.dumps(side))
    try:
        spec = spec_from_checkpoint(ckpt)
        build(spec, device="cpu")
    except AppError as exc:
        assert str(exc).strip()
