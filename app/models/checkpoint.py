"""A training checkpoint set, committed atomically: ``X.safetensors`` (weights), ``X.json`` (sidecar), ``X.state.pt``
(optimizer, scheduler, epoch, augmentation RNG) and ``X.manifest.json``, written LAST, naming the epoch and the
sha256 of the three others.

Each file is replaced atomically (``app.storage``); the manifest makes the set atomic: a run killed while saving
leaves a manifest of the previous epoch whose digests no longer match the files that were replaced, and
``verify_set`` (used by ``train --resume``) refuses it with a clear message instead of silently re-training an
epoch on mixed files. Sets written before manifests existed are checked by their epoch numbers (sidecar vs state).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from app.models.base import ModelError
from app.models.weights import WeightsError, checkpoint_paths, read_sidecar, save_checkpoint
from app.storage import atomic_path, atomic_write, file_digest

MANIFEST_FORMAT = "filter-explorer checkpoint set 1"


class CheckpointSetError(ModelError):
    """A checkpoint set that cannot be resumed from (missing or inconsistent files)."""


def state_path(out: str | Path) -> Path:
    st, _ = checkpoint_paths(out)
    return st.with_name(st.name[: -len(".safetensors")] + ".state.pt")


def manifest_path(out: str | Path) -> Path:
    st, _ = checkpoint_paths(out)
    return st.with_name(st.name[: -len(".safetensors")] + ".manifest.json")


def save_set(model: torch.nn.Module, out: str | Path, arch: Any, state: dict[str, Any], epoch: int,
             **sidecar: Any) -> Path:
    """Write the weights, the sidecar (``sidecar`` keywords of ``weights.save_checkpoint``), the training state
    and, last, the manifest. Returns the weights' path."""
    extra = dict(sidecar.pop("extra", None) or {})
    extra["epoch"] = int(epoch)
    st, js = save_checkpoint(model, out, arch, extra=extra, **sidecar)
    sp = state_path(out)
    with atomic_path(sp) as tmp:
        torch.save({**state, "epoch": int(epoch)}, tmp)
    files = {p.name: file_digest(p) for p in (st, js, sp)}
    atomic_write(manifest_path(out), json.dumps({"format": MANIFEST_FORMAT, "epoch": int(epoch), "files": files},
                                                indent=2))
    return st


def verify_set(out: str | Path) -> dict[str, Any]:
    """The training state of a consistent checkpoint set (``CheckpointSetError`` otherwise)."""
    st, js = checkpoint_paths(out)
    sp, mp = state_path(out), manifest_path(out)
    name = st.name[: -len(".safetensors")]
    for p, what in ((sp, "the training state written beside the checkpoint"), (st, "the weights")):
        if not p.is_file():
            raise CheckpointSetError(f"cannot resume: {p.name} ({what}) is missing")
    try:
        side = read_sidecar(st) or {}
    except WeightsError as exc:
        raise CheckpointSetError(f"cannot resume: {exc}") from None
    if mp.is_file():
        try:
            man = json.loads(mp.read_text(encoding="utf-8"))
            files = dict(man["files"])
            man_epoch = int(man["epoch"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointSetError(f"cannot resume: {mp.name} is not a readable manifest ({exc})") from None
        changed = [n for n, digest in files.items()
                   if not (mp.parent / n).is_file() or file_digest(mp.parent / n) != digest]
        if changed:
            raise CheckpointSetError(
                f"cannot resume from {name}: the checkpoint set is inconsistent ({', '.join(changed)} changed after "
                f"its manifest of epoch {man_epoch} was written; the run was probably killed while saving). Resume "
                f"is refused so that no epoch is trained twice on mixed files: train again from scratch or from a "
                f"copy of an earlier checkpoint")
    else:
        man_epoch = None
    try:
        state = torch.load(sp, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable state (torch raises many types) is the same user-facing problem
        raise CheckpointSetError(f"cannot resume: {sp.name} is not a readable training state "
                                 f"({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(state, dict) or not isinstance(state.get("epoch"), int):
        raise CheckpointSetError(f"cannot resume: {sp.name} does not hold a training state with an epoch")
    epochs = {"training state": state["epoch"]}
    if isinstance(side.get("epoch"), int):
        epochs["sidecar"] = side["epoch"]
    if man_epoch is not None:
        epochs["manifest"] = man_epoch
    if len(set(epochs.values())) > 1:
        said = ", ".join(f"{k} epoch {v}" for k, v in epochs.items())
        raise CheckpointSetError(f"cannot resume from {name}: the checkpoint set is inconsistent ({said}); it was "
                                 f"probably interrupted while saving. Train again from scratch or from a copy of an "
                                 f"earlier checkpoint")
    return state
