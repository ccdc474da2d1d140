"""A stored run as the commands print it (``probe --json``, ``history show``, the JSON export): ``resolved`` with the
head's hyperparameter as validation selected it. The stored record keeps what it resolved before the sweep (a rerun
sweeps the same grid again). Torch-free, Qt-free."""

from __future__ import annotations


def resolved_as_fitted(resolved, selected):
    """The run's resolved settings with the head's hyperparameter as selected on validation: before, `resolved`
    kept the head's default (weight_decay 0.001) beside a run that fitted 0.1 (an audit), and a script reading it
    took a value never used. What ``probe --json``, ``history show`` and the JSON export print; the stored record is
    unchanged (a rerun sweeps the same grid again)."""
    if not isinstance(resolved, dict) or not selected:
        return resolved
    opts = resolved.get("head_options")
    if isinstance(opts, dict):
        opts = {**opts, **{k: v for k, v in selected.items() if k in opts}}
    elif isinstance(opts, (list, tuple)):
        opts = [[k, selected.get(k, v)] for k, v in opts]
    else:
        return resolved
    return {**resolved, "head_options": opts}


def as_fitted(record: dict) -> dict:
    """A stored run as printed (``history show``, the JSON export): ``resolved`` with the selected hyperparameter."""
    if not isinstance(record, dict) or "resolved" not in record:
        return record
    return {**record, "resolved": resolved_as_fitted(record.get("resolved"), record.get("selected"))}
