"""Why a checkpoint did not fit the architecture it was tried on, in words a user can act on: the architecture its
settings name (" — this file is for resnet20 (...); choose that first.") or, for a checkpoint of a version before
2026-12-03 whose settings say "off" for an option its weights were trained with on, which box to tick.

Reads the file's sidecar and may build the model once more: it runs off the GUI thread, where the failed build ran
(``app.models.viz.inspect_task``)."""

from __future__ import annotations

from app.models import viz
from app.models.registry import names


def refusal_hint(path: str, backbone: str) -> str:
    """' — this file is for X (options); choose that first.' when the sidecar or the known-weights table says the
    checkpoint belongs to another architecture, the legacy hint when it is this one, else ''."""
    try:
        from app.models.build import spec_from_checkpoint

        other = spec_from_checkpoint(path)
    except Exception:  # no sidecar, unreadable file: the main message says enough
        return ""
    if other.backbone == backbone:
        return _legacy_hint(other)
    if other.backbone not in names():
        return ""
    opts = ", ".join(f"{k}={viz.format_option(viz.OptionField(k, 'str', None), v)}" for k, v in other.options)
    return f" — this file is for {other.backbone}" + (f" ({opts})" if opts else "") + "; choose that first."


def _legacy_hint(spec) -> str:
    """For a checkpoint whose settings say "off" for an option its weights were trained with on (versions before
    2026-12-03 read the word as on): which box to tick; '' otherwise."""
    from app.models.build import _build, legacy_flag_spec

    legacy = legacy_flag_spec(spec)
    if legacy is None:
        return ""
    try:
        _build(legacy, "cpu")
    except Exception:  # it does not fit that way either: the main message says enough
        return ""
    old = {k: v for k, v in spec.options if dict(legacy.options)[k] != v}
    words = ", ".join(f"'{v}'" for v in dict.fromkeys(old.values()))
    return (f" — this file was trained with {', '.join(old)} on (its settings' word {words} was read as on before "
            f"2026-12-03); tick it and load again.")
