"""The Live panes as the settings file keeps them (``widgets.live.saved_panes``): read back what was written, and a
damaged file never stops the window from starting."""

from __future__ import annotations

import json

from app.models.spec import ModelSpec
from widgets.live.pane import PER_PAGE
from widgets.live.saved_panes import SavedPane, panes_json, read_panes

A = ModelSpec(backbone="simple", label="a")
B = ModelSpec(backbone="simple", label="b")


def test_written_panes_read_back():
    panes = [SavedPane(A, 1, 2, 4, True, None), SavedPane(B, None, 0, PER_PAGE, False, None)]
    assert read_panes(panes_json(panes), [A, B]) == panes


def test_damaged_entries_are_skipped_or_defaulted():
    text = json.dumps([{"label": "a", "layer": True, "page": -3, "per_page": 2.5}, {"label": "gone"}, 7,
                       {"label": "b", "page": "x", "head": "/no/such/head.json"}])
    assert read_panes(text, [A, B]) == [SavedPane(A, None, 0, PER_PAGE, False, None),
                                        SavedPane(B, None, 0, PER_PAGE, False, None)]
    for bad in ("", "{", "5", '{"label": "a"}', "null"):  # not a list of panes: none (the defaults then)
        assert read_panes(bad, [A, B]) == [], bad
