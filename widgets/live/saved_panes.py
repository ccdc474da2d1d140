"""The Live workspace's panes as the settings file keeps them (``live/panes``: a JSON list of one object per pane),
read back and written. Reading never fails: a damaged or hand-edited entry is skipped or falls back to a default,
a head file that was deleted brings its pane back without it, and a head whose backbone is not among the choices
brings that backbone (``probe_spec``).

API::

    read_panes(text, choices) -> list[SavedPane]   # (spec, layer, page, per_page, predict, head) per pane
    panes_json(panes) -> str                        # panes: anything with spec, layer, page, per_page, predict, head
"""

from __future__ import annotations

import json
from typing import Iterable, NamedTuple

from app.models.spec import ModelSpec
from app.probe.head_export import HeadFileError, backbone_key, head_info
from widgets.live.pane import PER_PAGE, probe_spec


class SavedPane(NamedTuple):
    spec: ModelSpec
    layer: int | None
    page: int
    per_page: int
    predict: bool
    head: str | None


def read_panes(text: str, choices: Iterable[ModelSpec]) -> list[SavedPane]:
    """The panes in ``text`` whose model is among ``choices`` (by label) or comes with its head; [] when none."""
    try:
        panes = json.loads(text)
    except ValueError:
        return []
    if not isinstance(panes, list):
        return []
    by_label = {c.label: c for c in choices}
    restored = []
    for p in panes:
        if not isinstance(p, dict):
            continue
        spec, head = by_label.get(p.get("label")), p.get("head") if isinstance(p.get("head"), str) else None
        if head:
            try:
                info = head_info(head)
                if spec is None or backbone_key(spec) != backbone_key(info.backbone):
                    spec = probe_spec(info.backbone)  # the head's backbone (not among the zoo's models)
            except HeadFileError:
                head = None  # the head was deleted: the pane comes back without it
        if spec is not None:
            layer = p.get("layer") if isinstance(p.get("layer"), int) and not isinstance(p.get("layer"), bool) \
                else None
            restored.append(SavedPane(spec, layer, _whole(p.get("page"), 0, 0), _whole(p.get("per_page"), PER_PAGE, 0),
                                      bool(p.get("predict", False)), head))
    return restored


def panes_json(panes) -> str:
    return json.dumps([{"label": p.spec.label, "layer": p.layer, "page": p.page, "per_page": p.per_page,
                        "predict": p.predict, "head": p.head} for p in panes])


def _whole(value, default: int, minimum: int) -> int:
    """A whole number from the settings file, or ``default`` when it is not one (a hand-edited or damaged file must
    not stop the window from starting)."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        return default
    try:
        n = int(value)
    except (TypeError, ValueError, OverflowError):
        return default
    return n if n >= minimum else default
