"""One experiment cell, run anywhere: ``run_cell(cell_dict) -> result dict``.

A module-level function of plain data in and plain data out, so the same call runs in this process, in a process
pool or as a Ray task, and gives the same numbers (the cell fixes its torch thread count: ``threads``, default 1).

Probe cells call ``app.probe.run.run_probe`` (the probe command's own code); train cells call
``app.models.train.train`` (the train command's). A bank (``bank = {layer, kind, count?, size?, seed?, ...}``) is
generated with ``app.kernels.generate`` and put into the layer, as the Models workspace does.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from app.errors import AppError
from app.models.catalog import bank_state, default_weight_state


class CellError(AppError):
    """A cell's settings cannot be run (unknown known-weights name, a bank that does not fit ...)."""


def _weights(value: str | None) -> str | None:
    if not value:
        return None
    if str(value).startswith("known:"):
        from app.models.weights import KNOWN, find_known

        name = str(value)[6:]
        if name not in KNOWN:
            raise CellError(f"unknown known weights {name!r}; known: {', '.join(KNOWN)}")
        p = find_known(name)
        if p is None:
            raise CellError(f"weights {name!r} are not on this machine (python main.py weights download {name})")
        return str(p)
    if str(value).startswith("shipped:"):
        from app.models.zoo import shipped_dir

        return str(shipped_dir() / f"{str(value)[8:]}.safetensors")
    return str(value)


def _bank(s: dict[str, Any], seed: int):
    b = s.get("bank")
    if not b:
        return ()
    from app.kernels import generate

    b = dict(b)
    layer = b.pop("layer", "conv1")
    kind = b.pop("kind")
    count = int(b.pop("count", 32))
    size = int(b.pop("size", 3))
    in_ch = int(b.pop("in_channels", 1))
    bseed = int(b.pop("seed", seed))
    zero_mean = bool(b.pop("zero_mean", False))
    unit_norm = bool(b.pop("unit_norm", False))
    frozen = bool(b.pop("frozen", True))
    bank = generate(kind, count, size, in_ch, bseed, zero_mean, unit_norm, **b)
    if frozen:
        bank = bank.with_frozen(None, True)
    return ((layer, bank),)


def model_spec(s: dict[str, Any]):
    """The ``ModelSpec`` of a cell's settings."""
    from app.models.build import spec_from_checkpoint
    from app.models.spec import ModelSpec

    weights = _weights(s.get("weights"))
    options = dict(s.get("options") or {})
    seed = int(s.get("model_seed", 0))
    freeze = tuple(s.get("freeze") or ())
    label = s.get("label") or ""
    banks = _bank(s, seed)
    if weights and not s.get("backbone"):
        base = spec_from_checkpoint(weights)
        opts = dict(base.options)
        opts.update(options)
        spec = ModelSpec.make(base.backbone, label=label or base.label, options=opts, init="checkpoint",
                              weights=weights, freeze=freeze, seed=seed, weight_state="trained")
    else:
        backbone = s.get("backbone")
        if not backbone:
            raise CellError("a cell needs a backbone (or weights with a JSON sidecar)")
        state = s.get("weight_state") or ("trained" if weights else (bank_state(banks) if banks
                                                                       else default_weight_state(backbone)))
        spec = ModelSpec.make(backbone, label=label or backbone, options=options,
                              init=s.get("init") or ("checkpoint" if weights else "default"), weights=weights,
                              freeze=freeze, seed=seed, weight_state=state)
    if banks:
        spec = dataclasses.replace(spec, banks=tuple(spec.banks) + banks)
    return spec


def _set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(max(1, int(n)))


def run_cell(cell: dict[str, Any], cancel=None, on_progress=None) -> dict[str, Any]:
    """Run one cell (``Cell.to_dict()``); returns its metrics and what it used (plain JSON-able data)."""
    from app.device import describe, machine
    from app.tasks import run_to_end
    from app.threads import fixed

    s = dict(cell["settings"])
    if cell["kind"] not in ("probe", "train"):
        raise CellError(f"unknown cell kind {cell['kind']!r}")
    threads = int(s.get("threads", 1))
    _set_threads(threads)
    t0 = time.perf_counter()
    with fixed(threads):  # the tuners inside (extraction, heads, training) keep it: no count that follows the load
        run = _probe if cell["kind"] == "probe" else _train
        out = run(s, cancel, on_progress, run_to_end)
    out["seconds"] = round(time.perf_counter() - t0, 3)
    if not out.get("device"):  # a training cell: the device its run picked
        out["device"] = describe().name
    out["machine"] = machine()  # what computed it (processor, torch's CPU kernels, versions): cells may come from many
    out["key"] = cell["key"]
    out["variant"] = cell.get("variant", "")
    return out


def _probe(s, cancel, on_progress, run_to_end) -> dict[str, Any]:
    from app.probe.config import ProbeConfig, probe_defaults
    from app.probe.run import run_probe

    spec = model_spec(s)
    fields = ProbeConfig.__dataclass_fields__
    kw = {"model": spec, "dataset": s["dataset"], "data_root": s.get("data_root"), "layer": s.get("layer"),
          "pooling": s.get("pooling", "default"),
          "head": s.get("head") or probe_defaults(spec.backbone)["head"],
          "train_limit": s.get("train_limit"), "test_limit": s.get("test_limit"),
          "head_options": tuple(sorted((s.get("head_options") or {}).items()))}
    split_seed = int(s.get("split_seed", 0))
    if "seed" in fields:
        kw["seed"] = split_seed
    for name in ("split_seed", "head_seed", "val", "feature_budget", "tta", "refit"):
        if name in fields and s.get(name) is not None:
            kw[name] = s[name]
    if s.get("head_grid") is not None:  # the values the head's hyperparameter is selected from (on validation)
        kw["grid"] = tuple(s["head_grid"])
    cfg = ProbeConfig(**kw)
    task = run_probe(cfg, cancel=cancel) if "whiten" not in s else _probe_whiten(cfg, s["whiten"], cancel)
    result = run_to_end(task, on_progress)
    d = result.to_dict() if hasattr(result, "to_dict") else dict(result)
    run_id = None
    try:
        from app.probe import history

        record = getattr(history, "record", None)
        if record is not None:
            run_id = record(result)
    except Exception:  # noqa: BLE001 - the cell's numbers stand without the shared history
        run_id = None
    test = d.get("test_top1", d.get("top1"))
    return {"kind": "probe", "test_top1": test, "val_top1": d.get("val_top1"), "top2": d.get("top2"),
            "top5": d.get("top5"), "n_features": d.get("n_features"), "n_train": d.get("n_train"),
            "n_test": d.get("n_test"), "selected": d.get("selected") or (d.get("settings") or {}).get("head_options"),
            "retrieval": (d.get("settings") or {}).get("retrieval") or d.get("retrieval"),
            "run_id": run_id if run_id is not None else d.get("run_id"), "label": spec.label,
            "weight_state": spec.weight_state, "device": d.get("device"),
            "whiten_stem": (d.get("settings") or {}).get("whiten_stem"), "tta": (d.get("settings") or {}).get("tta"),
            # which test images it got wrong, and which images they were: an ablation's arm and its baseline's cell of
            # the same seeds are then compared image by image (McNemar's test, ``app.probe.paired``)
            "misclassified": d.get("misclassified"), "test_fingerprint": d.get("test_fingerprint")}


def _probe_whiten(cfg, whiten, cancel):
    """``run_probe`` with the stem's patch-ZCA whitening set by the cell (``whiten``: false = off, a number = its
    epsilon) instead of the probe's per-backbone default; the run records what it used (``whiten_stem``)."""
    from app.data import load
    from app.device import pick
    from app.probe.resolve import check_config, is_random, resolve
    from app.probe.run import run_resolved
    from app.tasks import Progress

    if whiten is not False and (isinstance(whiten, bool) or not isinstance(whiten, (int, float)) or whiten <= 0):
        raise CellError(f"whiten must be false (off) or a positive epsilon, got {whiten!r}")
    check_config(cfg)
    yield Progress(0, None, f"loading dataset {cfg.dataset}")
    data = load(cfg.dataset, "train", cfg.data_root)
    record, model = resolve(cfg, data, pick())
    if whiten is not False and not is_random(record.model):
        raise CellError("whiten applies to a random backbone's stem only (this cell's backbone has weights)")
    record = record.with_(whiten=None if whiten is False else float(whiten))
    return (yield from run_resolved(record, cancel, train_full=data, model=model, config=cfg))


def _train(s, cancel, on_progress, run_to_end) -> dict[str, Any]:
    from app.models.build import build
    from app.models.train import TrainConfig, train

    spec = model_spec(s)
    fields = TrainConfig.__dataclass_fields__
    kw = {"dataset": s["dataset"], "epochs": int(s.get("epochs", 1)), "optimizer": s.get("optimizer", "sgd"),
          "lr": s.get("lr"), "weight_decay": s.get("weight_decay"), "batch_size": int(s.get("batch_size", 128)),
          "augment": s.get("augment"), "train_limit": s.get("train_limit"), "test_limit": s.get("test_limit"),
          "data_root": s.get("data_root"), "seed": int(s.get("train_seed", 0)), "max_steps": s.get("max_steps")}
    if "val" in fields and s.get("val") is not None:
        kw["val"] = int(s["val"])
    cfg = TrainConfig(**{k: v for k, v in kw.items() if k in fields})
    model = build(spec)
    result = run_to_end(train(spec, cfg, cancel=cancel, model=model), on_progress)
    hist = [dataclasses.asdict(h) for h in result.history]
    val = next((h.get("val_acc") for h in reversed(hist) if h.get("val_acc") is not None), None)
    return {"kind": "train", "test_top1": result.test_acc, "val_top1": getattr(result, "val_acc", None) or val,
            "train_acc": result.train_acc, "trainable": result.trainable, "frozen": result.frozen,
            # the model that was trained: its head is the dataset's (train resets a head of another width)
            "params_total": result.trainable + result.frozen, "epochs": result.epochs_done, "label": spec.label,
            "weight_state": spec.weight_state, "history": hist, "threads": result.threads,
            # the images its figures are on: the plot's and report's test-set standard error of a one-seed point
            "n_test": getattr(result, "n_test", None) or None, "n_val": getattr(result, "n_val", None) or None}
