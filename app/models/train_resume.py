"""A resume must be the same run (``app.models.train``): the settings that define a run (``run_settings``), as a
checkpoint's sidecar recorded them (``recorded_settings``), and the refusal that names each one that differs
(``resume_differences``, ``_refuse_changes``); the checkpoint set opened and verified (``_open_resume``) and the
schedule length its run planned (``_planned_steps``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.models.base import ModelError
from app.models.checkpoint import verify_set
from app.models.spec import ModelSpec
from app.models.train_config import TrainConfig, TrainError
from app.models.weights import checkpoint_paths

# --- the settings that define a run ------------------------------------------------------------------
UNKNOWN = object()  # a default that only the data resolves (augmentation, validation size): compared after loading

# each setting as a refusal names it (with the train command's option, where there is one)
SETTING_NAMES = {
    "dataset": "dataset (--dataset)", "data_root": "data folder (--data-root)",
    "train_limit": "training subset (--train-limit)", "test_limit": "test subset (--test-limit)",
    "val": "validation images (--val)", "seed": "data seed (--seed)", "optimizer": "optimizer (--optimizer)",
    "lr": "learning rate (--lr)", "weight_decay": "weight decay (--weight-decay)", "momentum": "momentum",
    "batch_size": "batch size (--batch-size)", "augment": "augmentation (--augment)",
    "backbone": "backbone (--backbone)", "options": "backbone options (--options)",
    "model_seed": "model seed (--model-seed, else --seed)", "init": "initialisation (--init)",
    "freeze": "freeze (--freeze)", "banks": "kernel banks (--bank)",
    "input": "input (--input-size/--mean/--std/--input-preset)", "classes": "classes of the dataset",
}
# not settings of a run, so free to differ on a resume: how long it goes (epochs: the schedule is rebuilt and said
# so; max_steps only stops it), where it writes (out), and how it runs (device, threads: not TrainConfig fields)


def _root(path: Any) -> str | None:
    return None if path in (None, "") else str(Path(str(path)).expanduser().resolve())


def _banks(items: Any) -> list:
    """Banks as what defines them: layer, values (digest) and frozen flags."""
    from app.models.spec import bank_dict

    out = []
    for item in items or ():
        d = item if isinstance(item, dict) else bank_dict(item[0], item[1], with_weights=False)
        out.append([d.get("layer"), d.get("sha256"), list(d.get("frozen") or ())])
    return out


def _input(d: Any) -> dict | None:
    """An input spec as what defines it (its ``source`` only says where it came from)."""
    if d is None:
        return None
    d = d.to_dict() if hasattr(d, "to_dict") else dict(d)
    d.pop("source", None)
    return d


def run_settings(cfg: TrainConfig, spec: ModelSpec, channels: int | None = None, n_val: int | None = None,
                 ) -> dict[str, Any]:
    """The settings of this run that a resume must share with its checkpoint, resolved (``UNKNOWN`` where only the
    data resolves a default: pass the training images' ``channels`` and the validation size ``n_val`` once loaded).

    A spec field is included only where the spec says something: a spec built from the checkpoint itself (init
    ``checkpoint``, no banks or input given) leaves init, banks and input to the checkpoint."""
    import json

    d = spec.to_dict(bank_weights=False)
    out: dict[str, Any] = {
        "dataset": cfg.dataset, "data_root": _root(cfg.data_root), "train_limit": cfg.train_limit,
        "test_limit": cfg.test_limit, "seed": int(cfg.seed), "optimizer": cfg.optimizer, "lr": cfg.resolved_lr(),
        "weight_decay": cfg.resolved_wd(), "momentum": float(cfg.momentum), "batch_size": int(cfg.batch_size),
        "augment": (bool(cfg.augment) if cfg.augment is not None
                    else (channels == 3 if channels is not None else UNKNOWN)),
        "val": int(cfg.val) if cfg.val is not None else (int(n_val) if n_val is not None else UNKNOWN),
        "backbone": spec.backbone, "options": json.loads(json.dumps(d["options"], default=str)),
        "model_seed": int(spec.seed), "freeze": list(spec.freeze),
    }
    if spec.init != "checkpoint":
        out["init"] = spec.init
    if spec.banks:
        out["banks"] = _banks(spec.banks)
    if spec.input is not None:
        out["input"] = _input(spec.input)
    return out


def recorded_options(side: dict) -> dict[str, Any]:
    """The run's settings as a checkpoint's sidecar wrote them, unresolved (None where the sidecar has none, or a
    default it left to the run): the one reader of a sidecar's run settings, for ``train --resume``'s left-out
    flags (``app.models.cli.resume_arguments``) and for the comparison of a resume (``recorded_settings``).
    ``model_seed`` is the weights' own seed (the architecture's), ``epochs`` the planned epochs."""
    opts = side.get("options") if isinstance(side.get("options"), dict) else {}
    arch = side.get("architecture") if isinstance(side.get("architecture"), dict) else {}
    momentum = opts.get("momentum")
    return {
        "dataset": opts.get("dataset", side.get("dataset")), "data_root": opts.get("data_root"),
        "train_limit": opts.get("train_limit"), "test_limit": opts.get("test_limit"),
        "val": side["val"] if isinstance(side.get("val"), int) else opts.get("val"),
        "seed": opts.get("seed", side.get("seed")), "optimizer": opts.get("optimizer"), "lr": opts.get("lr"),
        "weight_decay": opts.get("weight_decay"), "batch_size": opts.get("batch_size"),
        "momentum": (float(momentum) if isinstance(momentum, (int, float)) and not isinstance(momentum, bool)
                     else None),
        "augment": opts["augment"] if isinstance(opts.get("augment"), bool) else None,
        "epochs": opts.get("epochs"),
        "model_seed": arch["seed"] if isinstance(arch.get("seed"), int) else None,
    }


def recorded_settings(side: dict, channels: int | None = None) -> dict[str, Any]:
    """``run_settings`` as a checkpoint's sidecar recorded them. Sidecars written before the resolved values were
    recorded hold null for a default (lr, weight decay, augmentation): resolved here as train resolved them then."""
    arch = side.get("architecture") if isinstance(side.get("architecture"), dict) else {}
    rec = recorded_options(side)
    optimizer = rec["optimizer"] or "sgd"
    cfg = TrainConfig(dataset="", optimizer=optimizer, lr=rec["lr"], weight_decay=rec["weight_decay"])
    augment, val = rec["augment"], rec["val"]
    return {
        "dataset": rec["dataset"], "data_root": _root(rec["data_root"]),
        "train_limit": rec["train_limit"], "test_limit": rec["test_limit"],
        "seed": rec["seed"], "optimizer": optimizer, "lr": cfg.resolved_lr(),
        "weight_decay": cfg.resolved_wd(), "momentum": rec["momentum"] if rec["momentum"] is not None else 0.9,
        "batch_size": rec["batch_size"] if rec["batch_size"] is not None else 128,
        "augment": augment if augment is not None else (channels == 3 if channels is not None else UNKNOWN),
        "val": int(val) if isinstance(val, int) else UNKNOWN,
        "backbone": arch.get("backbone"), "options": arch.get("options", {}),
        "model_seed": rec["model_seed"] if rec["model_seed"] is not None else 0,
        "freeze": list(arch.get("freeze") or ()), "init": arch.get("init", "default"),
        "banks": _banks(b for b in arch.get("banks") or () if isinstance(b, dict)),
        "input": _input(side.get("input")) if isinstance(side.get("input"), dict) else UNKNOWN,
    }


def _shown(key: str, value: Any) -> str:
    if value is None:
        return {"train_limit": "all images", "test_limit": "all images", "data_root": "the default folder"}.get(
            key, "none")
    if key == "banks":
        return "; ".join(f"{layer}: sha256 {str(digest)[:12]}, {sum(frozen)} of {len(frozen)} kernels frozen"
                         for layer, digest, frozen in value) or "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    import json

    return value if isinstance(value, str) else json.dumps(value, default=str)


def resume_differences(asked: dict[str, Any], recorded: dict[str, Any]) -> list[str]:
    """One line per setting that differs: ``"learning rate (--lr): the checkpoint's run used 0.05, this one asks
    for 0.5"``; settings one side cannot resolve yet (``UNKNOWN``) are left to a later call."""
    lines = []
    for key, value in asked.items():
        was = recorded.get(key, UNKNOWN)
        if key == "input" and isinstance(value, dict) and isinstance(was, dict):
            # what this run leaves to be resolved (a size the data decides: null) is compared once resolved
            value = {k: v for k, v in value.items() if v is not None}
            was = {k: v for k, v in was.items() if k in value}
        if value is UNKNOWN or was is UNKNOWN or value == was:
            continue
        lines.append(f"{SETTING_NAMES.get(key, key)}: the checkpoint's run used {_shown(key, was)}, this one asks "
                     f"for {_shown(key, value)}")
    return lines


def _refuse_changes(where: str, lines: list[str]) -> None:
    if lines:
        it = "them" if len(lines) > 1 else "it"
        raise TrainError(f"cannot resume from {where}: a resume continues the same run, and "
                         f"{'these settings differ' if len(lines) > 1 else 'this setting differs'} from the "
                         f"checkpoint's:\n  " + "\n  ".join(lines) + f"\nLeave {it} out (train --resume takes "
                         f"{it} from the checkpoint; only --epochs, --max-steps, --out and how it runs may change), or "
                         f"start a new run without --resume (to another --out: train never writes over a checkpoint set)")


def _open_resume(cfg: TrainConfig) -> tuple[dict, dict]:
    """(training state, sidecar) of the checkpoint set ``cfg.resume``, verified (``TrainError`` otherwise)."""
    from app.models.weights import read_sidecar

    if Path(cfg.resume).expanduser().name in ("", ".", ".."):
        raise TrainError(f"cannot resume from {cfg.resume!r}: that is a folder, not a checkpoint's path stem")
    try:
        state = verify_set(cfg.resume)
        side = read_sidecar(checkpoint_paths(cfg.resume)[0])
    except ModelError as exc:
        raise TrainError(str(exc)) from None
    if not side:
        raise TrainError(f"cannot resume from {cfg.resume}: its JSON sidecar (what the run's settings were) is "
                         f"missing")
    return state, side


def _planned_steps(state: dict, side: dict, steps_per_epoch: int) -> int:
    """The schedule length the checkpoint's run used. Sets written before it was stored: its epochs' steps, and
    (as --max-steps then squeezed the schedule) at most its max_steps."""
    if isinstance(state.get("total_steps"), int):
        return int(state["total_steps"])
    opts = side.get("options") if isinstance(side.get("options"), dict) else {}
    planned = steps_per_epoch * int(opts.get("epochs") or 1)
    if isinstance(opts.get("max_steps"), int) and opts["max_steps"] > 0:
        planned = min(planned, int(opts["max_steps"]))
    return planned
