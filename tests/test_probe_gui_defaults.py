"""The Probe workspace's head-option fields start at the command line's defaults (#10: "GUI and CLI disagree"); a
field once started an SVM at 100 iterations where `probe` uses 1000."""

from __future__ import annotations

from app.probe.config import HEAD_DEFAULTS
from widgets.probe.settings_panel import AUTO, HEAD_OPTIONS


def test_every_fixed_head_field_starts_at_the_cli_default():
    fixed = [(h, opt, default) for h, opt, _label, _kind, _lo, _hi, default, _tip in HEAD_OPTIONS if (h, opt) not in AUTO]
    assert fixed  # epochs of logistic and svm at least
    for head, opt, default in fixed:
        assert default == HEAD_DEFAULTS[head][opt], (head, opt)
    for _h, _o, _l, _k, lo, hi, default, _t in HEAD_OPTIONS:
        assert lo <= default <= hi
