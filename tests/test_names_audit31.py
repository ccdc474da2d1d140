"""A model added to the session never takes a built-in model's name (session 31's walkthrough): "simple (random)" at
seed 3 was named like the seed-0 built-in, and Live and Probe, which list models by name, showed the built-in one in
its place."""

from __future__ import annotations

from app.models import session_models
from app.models.spec import ModelSpec
from app.session import Session


def test_a_new_models_name_is_never_a_built_in_models():
    from app.models.zoo import default_specs

    builtin = default_specs()[0].label
    s = Session()
    assert session_models.new_name(s, builtin) == f"{builtin} (2)"
    assert session_models.new_name(s, "my net") == "my net"


def test_live_lists_a_session_model_named_like_a_built_in_one():
    from app.live.pipeline import model_choices
    from app.models.zoo import default_specs

    (builtin,) = [s for s in default_specs() if s.label == "simple (random)"]  # shown under its own name in Live
    mine = ModelSpec.make(builtin.backbone, label=builtin.label, seed=3, weight_state="random")
    labels = [c.label for c in model_choices({builtin.label: mine})]
    assert labels.count(builtin.label) == 1 and f"{builtin.label} (2)" in labels
    (listed,) = [c for c in model_choices({builtin.label: mine}) if c.label == f"{builtin.label} (2)"]
    assert listed.seed == 3
