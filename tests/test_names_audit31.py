"""Names and reasons a new user met (session 31's walkthrough): a model added to the session took a built-in
model's name ("simple (random)" at seed 3, and Live and Probe, which list models by name, showed the built-in one in
its place); the Taps' "/2" headed "stride" like the layer table's own steps; a baseline button off with no reason."""

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


def test_the_taps_table_says_downsampling_not_stride():
    """The layer table's "stride" is each layer's own step (conv1: 1), the Taps list's "/2" the input's size over the
    map's: both were headed "stride"."""
    from app.models import viz
    from app.models.build import build
    from widgets.models.words import stages_html

    spec = ModelSpec.make("simple", options={"widths": [4, 8], "in_channels": 1})
    html = stages_html(viz.snapshot(build(spec), spec))
    assert "<i>downsampling</i>" in html and "<i>stride</i>" not in html and "/2</td>" in html


def test_the_baseline_button_says_why_it_is_off(qtbot):
    from widgets.application import make_app
    from widgets.probe.run_panel import BASELINE_TIP, RunPanel

    make_app()
    p = RunPanel()
    qtbot.addWidget(p)
    p.set_running(False, can_train=True, can_baseline=False)
    assert not p.baseline_btn.isEnabled() and "Off: check a trained model" in p.baseline_btn.toolTip()
    p.set_running(False, can_train=True, can_baseline=True)
    assert p.baseline_btn.isEnabled() and p.baseline_btn.toolTip() == BASELINE_TIP
