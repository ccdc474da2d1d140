"""Full training of a backbone (the "trained" baseline), as a task generator.

    result = run_to_end(train(spec, TrainConfig(dataset="mnist", epochs=2, out="runs/simple_mnist")))

Protocol: a seeded validation split (``TrainConfig.val`` images; default ``app.data.core.default_val``, the
probe's: 5000 for datasets of at least 20,000 training images, else 20%; 0 allowed and recorded) is carved from the
training data with ``ArrayDataset.split_off(val, seed)``; every epoch reports train and validation accuracy; the test split is
evaluated once, at the end, or where ``max_steps`` stops the run (then it is the figure of a run stopped part-way
through its schedule: the CLI calls it the accuracy "at this stop", never "final", and ``eval`` of such a checkpoint
says where its run stopped). Subsets (``train_limit``/``test_limit``) use the same ``seed`` (the data seed; the
model's own seed is ``ModelSpec.seed``).

The input spec is resolved once, up front (``app.models.inputs.input_spec`` with the training set's statistics;
a size-free model records the training images' size) and used by training, validation and test
(``app.models.inputs.to_tensor``); the checkpoint's sidecar stores it (``InputSpec.to_dict()``).

``train`` yields ``Progress(step, total_steps, message, payload=TrainStep(...))`` after every step and one with
``kind="epoch"`` after every epoch; it checks ``cancel`` between steps. Optimisers: SGD with Nesterov momentum 0.9
(default; ``TrainConfig.nesterov``, recorded in the sidecar's options) or AdamW; cosine schedule over all the steps
of ``epochs``; flip/crop augmentation for natural (RGB) images, none for digits. ``max_steps`` only stops the run
early (after that many optimizer steps in total, counted from the run's start across resumes): the schedule still
spans ``epochs``, and a run stopped part-way through an epoch records that epoch as incomplete
(``TrainStep.complete``, the sidecar's ``partial_epoch``; ``epoch`` counts complete epochs). With ``out`` set, a
checkpoint set (``app.models.checkpoint``: weights, sidecar, training state, manifest written last) is saved after
every epoch and at such a stop; ``resume`` continues from such a set after verifying it, at the very step it stopped
at.

A resume must be the same run: every setting that defines it (``run_settings``: data, limits, validation split,
seeds, optimiser, schedule, augmentation, architecture, freeze, banks, input) is compared with what the checkpoint's
sidecar recorded (``recorded_settings``) before anything is loaded, and a difference is refused (``TrainError``
naming each setting and both values). Only ``epochs`` (to extend or shorten the run), ``max_steps``, ``out`` and how
it runs (device, threads) may change; a changed ``epochs`` changes the schedule's length, so the schedule is rebuilt
at the resumed step and the result says so (``TrainResult.notes``, the sidecar's ``schedule.rebuilt``): such a run
is not the same as an uninterrupted one of that length. The sidecar records the resolved values actually used (lr,
weight decay, augmentation, validation size), and on a resume the first run's architecture and starting weights.

A data-dependent backbone (``needs_fit``: ``patches``) has its filters fitted before the first step, on the training
split only (after the validation split is carved off), as the probe fits them (``fit_filters``, the rule of
``app.probe.extract.fit_backbone``; seeded by the model seed); the sidecar records the fit (``fit``). Weights already fitted (a checkpoint, a resume)
keep their fit. A backbone without parameters (``scattering``) trains its new head; the device is then its buffers'.
A forward pass that fails (maps shrunk to nothing, an input too small) is a ``TrainError`` saying so, as in eval.

Threads: the steps run under ``app.threads.ThreadTuner``, which adapts the torch thread count to the machine's load
unless the count is fixed (``--threads N``). A different count changes the order of float sums, so only a fixed
count gives bit-identical weights for the same seed; the result and the sidecar record the counts the steps used.

Frozen parameters (``requires_grad`` off) are not given to the optimiser, so they stay bit-identical; kernels a
Workbench bank froze inside a trainable conv get zero gradients and are restored bit for bit after every step
(weight decay and momentum would move them otherwise). Batch-norm layers whose parameters are all frozen stay in
eval mode (their running statistics do not move either).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Generator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from app.data.core import data_notes
from app.models.build import baked, build, restore_frozen
from app.models.checkpoint import save_set, state_path
from app.models.evaluate import EvalResult, evaluate, forward_error
from app.models.freeze import apply_freeze, is_norm, param_counts
from app.models.patch_fit import fit_on_training
from app.models.inputs import InputSpec, to_tensor
from app.models.spec import ModelSpec
from app.models.weights import WeightsError, checkpoint_paths
from app.models.train_config import TrainConfig, TrainError  # noqa: F401  (re-exported: app.models.train.*)
from app.models.train_data import _load_data, augment_batch, check_dataset, resolve_input  # noqa: F401  (re-exported)
from app.models.train_resume import (UNKNOWN, _open_resume, _planned_steps, _refuse_changes,  # noqa: F401
                                     recorded_settings, resume_differences, run_settings)  # (re-exported too)
from app.tasks import CancelToken, Progress, check
from app.threads import ThreadTuner


@dataclass(frozen=True)
class TrainStep:
    kind: str  # "step" or "epoch"
    epoch: int  # 1-based
    step: int  # global step (1-based)
    steps_per_epoch: int
    loss: float
    train_acc: float  # running accuracy over the epoch so far
    test_acc: float | None = None  # only on the last epoch record (the test split is evaluated once, at the end or
    # at a max_steps stop)
    lr: float = 0.0  # the schedule's rate after this step: the one the next step uses (the CLI: "next lr")
    val_acc: float | None = None  # at epoch ends (None when there is no validation split)
    complete: bool = True  # False on the record of an epoch that ``max_steps`` stopped part-way through


@dataclass(frozen=True)
class TrainResult:
    spec: ModelSpec
    config: TrainConfig
    train_acc: float
    test_acc: float | None
    epochs_done: int  # complete epochs (a run that max_steps stopped part-way through an epoch does not count it)
    history: tuple[TrainStep, ...]  # the epoch records
    seconds: float
    trainable: int
    frozen: int
    checkpoint: str | None
    val_acc: float | None = None
    n_val: int = 0
    input: InputSpec | None = None
    froze: tuple[str, ...] = ()  # what the freeze entries froze (one line each)
    threads: dict | None = None  # the thread tuner's report of the training steps (app.threads), with "used" (the
    # counts the steps ran with, sorted) and "fixed" (False when the tuner could change it: not bit-reproducible)
    data_notes: tuple[str, ...] = ()  # what loading the splits said (app.data.core.data_notes)
    steps: int = 0  # optimizer steps done in total (a resumed run counts the checkpoint's too)
    total_steps: int = 0  # the schedule's length: steps per epoch x epochs
    stopped_early: bool = False  # max_steps stopped the run before its last epoch ended
    notes: tuple[str, ...] = ()  # what the run did that a reader must know (a schedule rebuilt on resume)
    n_test: int = 0  # test images the figure ``test_acc`` is on (the seeded subset of --test-limit, or all)


# --- training ----------------------------------------------------------------------------------------------
def _set_train_mode(model: nn.Module) -> None:
    model.train()
    for m in model.modules():
        if is_norm(m):  # eager or TorchScript (a scripted BatchNorm2d is a RecursiveScriptModule)
            ps = list(m.parameters(recurse=False))
            if ps and not any(p.requires_grad for p in ps):
                m.eval()


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise TrainError("nothing to train: every parameter is frozen")
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.resolved_lr(), momentum=cfg.momentum, weight_decay=cfg.resolved_wd(),
                               nesterov=cfg.nesterov)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.resolved_lr(), weight_decay=cfg.resolved_wd())
    raise TrainError(f"unknown optimizer {cfg.optimizer!r} (sgd or adamw)")


def model_device(model: nn.Module, device: torch.device | str | None = None) -> torch.device:
    """The device ``model`` computes on: its parameters', else its buffers' (scattering has filters, no parameters),
    else ``device``, else the app's (``app.device.pick``)."""
    t = next(model.parameters(), None)
    if t is None:
        t = next(model.buffers(), None)
    if t is not None:
        return t.device
    if device is not None:
        return torch.device(device)
    from app import device as _dev

    return _dev.pick()


def needs_fitting(model: nn.Module) -> bool:
    """A data-dependent backbone (``needs_fit``: patches) whose filters are not fitted yet (its ``fitted`` flag, which
    the weights carry: a checkpoint of a fitted model, or a resume, keeps its fit)."""
    if not getattr(model, "needs_fit", False):
        return False
    fitted = getattr(model, "fitted", None)
    return fitted is None or not int(fitted)


def fit_filters(model: nn.Module, train_ds: Any, ispec: InputSpec, seed: int, cancel: CancelToken | None = None):
    """Task: fit a data-dependent backbone's filters on ``train_ds``, the training split after the validation split
    was carved off, by the probe's very rule (``app.models.patch_fit.fit_on_training``). Returns the sidecar's
    record: seed, images used, of how many."""
    n = yield from fit_on_training(model, train_ds, ispec, seed, cancel)
    return {"seed": int(seed), "images": int(n), "of": len(train_ds), "split": "train (validation carved off)"}


def train(spec: ModelSpec, cfg: TrainConfig, device: torch.device | str | None = None,
          cancel: CancelToken | None = None, model: nn.Module | None = None, data: tuple | None = None,
          ) -> Generator[Progress, None, TrainResult]:
    """Train ``spec`` (or an already built ``model`` of it) end to end on ``cfg.dataset``; see the module doc.

    ``data``: (train, test) ``ArrayDataset``s already in memory (then ``cfg.dataset`` is only a name)."""
    t0 = time.monotonic()
    cfg.check()
    resume_state, side = None, None
    if cfg.resume:  # refused before any loading when a setting differs from the checkpoint's run
        resume_state, side = _open_resume(cfg)
        _refuse_changes(cfg.resume, resume_differences(run_settings(cfg, spec), recorded_settings(side)))
    yield Progress(0, None, f"loading {cfg.dataset}")
    train_ds, val_ds, test_ds = _load_data(cfg, data)
    check(cancel)
    n_classes = len(train_ds.classes)
    if side is not None:  # what only the data resolves: default augmentation and validation size, the classes
        asked = run_settings(cfg, spec, channels=train_ds.channels, n_val=len(val_ds))
        asked["classes"] = list(train_ds.classes)
        recorded = recorded_settings(side, channels=train_ds.channels)
        recorded["classes"] = list(side["classes"]) if isinstance(side.get("classes"), list) else UNKNOWN
        _refuse_changes(cfg.resume, resume_differences(asked, recorded))
        spec = replace(spec, weights=str(checkpoint_paths(cfg.resume)[0]), init="checkpoint",
                       banks=baked(spec.banks))  # the weights hold the banks; their frozen kernels stay frozen
        model = None
    if model is None:
        yield Progress(0, None, f"building {spec.label or spec.backbone}")
        model = build(spec, device=device)
    device = model_device(model, device)
    froze: tuple[str, ...] = tuple(getattr(model, "fe_froze", ()))
    if getattr(model, "num_classes", None) != n_classes:
        with torch.random.fork_rng(devices=[]):  # a seeded head: the same spec trains the same way
            torch.manual_seed(int(spec.seed) + 2)
            model.reset_classifier(n_classes)
        model.to(device)  # a backbone without parameters (scattering) gets its new head on the CPU
        froze = tuple(apply_freeze(model, spec.freeze))  # patterns that name the head apply to the new one too
    ispec = resolve_input(spec, model, train_ds)
    fit = side.get("fit") if side is not None else None
    # data-dependent filters (patches): fitted on the training split (validation carved off), as the probe fits them
    if resume_state is None and needs_fitting(model):
        yield Progress(0, None, "fitting the filters on the training split")
        fit = yield from _quiet(fit_filters(model, train_ds, ispec, int(spec.seed), cancel), "fitting the filters")
    augment = train_ds.channels == 3 if cfg.augment is None else bool(cfg.augment)
    opt = make_optimizer(model, cfg)
    steps_per_epoch = math.ceil(len(train_ds) / cfg.batch_size)
    # the schedule spans every epoch; max_steps only stops the run early (it used to squeeze the whole schedule into
    # max_steps, so that a stopped run was a different, shorter run and could not be continued)
    total_steps = steps_per_epoch * cfg.epochs

    def cosine(s: int) -> float:
        return 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / max(1, total_steps)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine)
    start_epoch, step, first_step = 0, 0, 0  # first_step: steps of the start epoch already done (a stopped epoch)
    sums: tuple[int, int, float] = (0, 0, 0.0)  # images seen, hits, loss sum of that epoch so far
    history: list[TrainStep] = []
    notes: list[str] = []
    schedule: dict[str, Any] = {"kind": "cosine", "total_steps": total_steps, "rebuilt": []}
    threads_before: dict = {}
    if resume_state is not None:
        try:
            opt.load_state_dict(resume_state["optimizer"])
            sched.load_state_dict(resume_state["scheduler"])
            start_epoch = int(resume_state["epoch"])
            step = int(resume_state["step"])
        except (KeyError, ValueError, RuntimeError, TypeError) as exc:
            raise TrainError(f"cannot resume from {cfg.resume}: the training state does not match this model and "
                             f"optimizer ({str(exc)[:200]})") from None
        first_step = step - start_epoch * steps_per_epoch
        partial = resume_state.get("epoch_sums")
        if not 0 <= first_step < steps_per_epoch or (first_step and not isinstance(partial, (list, tuple))):
            raise TrainError(
                f"cannot resume from {cfg.resume}: its training state says step {step} after {start_epoch} complete "
                f"epoch(s) of {steps_per_epoch} steps, which does not add up; it was probably stopped by --max-steps "
                f"part-way through an epoch by an earlier version, which recorded that epoch as complete, so it "
                f"cannot be continued at the right step. Train again without --resume, to another --out")
        if first_step:
            sums = (int(partial[0]), int(partial[1]), float(partial[2]))
        if start_epoch >= cfg.epochs:
            raise TrainError(f"cannot resume from {cfg.resume}: it already has {start_epoch} epoch(s); ask for more "
                             f"with --epochs")
        if cfg.max_steps and step >= cfg.max_steps:
            raise TrainError(f"cannot resume from {cfg.resume}: it already has {step} steps, and --max-steps "
                             f"{cfg.max_steps} stops at {cfg.max_steps}; give a larger --max-steps, or none")
        if isinstance(side.get("schedule"), dict):
            schedule["rebuilt"] = list(side["schedule"].get("rebuilt") or [])
        planned = _planned_steps(resume_state, side, steps_per_epoch)
        if planned != total_steps:
            # a changed --epochs changes the cosine's length: from here on, the schedule of a run of the new length
            lr_was = float(opt.param_groups[0]["lr"])
            for group, base in zip(opt.param_groups, sched.base_lrs):
                group["lr"] = base * cosine(step)
            sched._last_lr = [group["lr"] for group in opt.param_groups]
            lr_now = float(opt.param_groups[0]["lr"])
            schedule["rebuilt"].append({"at_step": step, "total_steps_before": planned, "total_steps": total_steps,
                                        "lr_before": lr_was, "lr_after": lr_now})
            notes.append(f"schedule rebuilt: the checkpoint's run planned its cosine learning-rate schedule over "
                         f"{planned} steps, this one over {total_steps} ({cfg.epochs} epochs); at step {step} the "
                         f"learning rate goes from {lr_was:.4g} to {lr_now:.4g}. The result is not that of an "
                         f"uninterrupted {cfg.epochs}-epoch run")
        if isinstance(side.get("threads"), dict):
            threads_before = side["threads"]
    g = torch.Generator().manual_seed(cfg.seed)
    if resume_state is not None and isinstance(resume_state.get("augment_rng"), torch.Tensor):
        g.set_state(resume_state["augment_rng"])  # the same flips and crops as an uninterrupted run
    rng = np.random.default_rng(cfg.seed)
    for _ in range(start_epoch):  # same shuffles as an uninterrupted run
        rng.permutation(len(train_ds))
    counts = param_counts(model)
    tuner = ThreadTuner("train")  # in the thread that runs this task (app.threads; issue 14)
    # the counts the steps ran with: the tuner may change it between steps, and with it the order of float sums
    used: set[int] = set()
    fixed = not tuner.adaptive and not tuner.nested
    train_acc, val_acc, test_acc, epoch, epochs_done, stopped = 0.0, None, None, start_epoch, start_epoch, False
    for epoch in range(start_epoch, cfg.epochs):
        _set_train_mode(model)
        order = rng.permutation(len(train_ds))
        begin = first_step if epoch == start_epoch else 0
        seen, hits, loss_sum = sums if epoch == start_epoch else (0, 0, 0.0)
        done = begin
        for b in range(begin, steps_per_epoch):
            if cfg.max_steps and step >= cfg.max_steps:
                break
            check(cancel)
            idx = np.sort(order[b * cfg.batch_size:(b + 1) * cfg.batch_size])
            with tuner.step(items=len(idx)):  # the compute of one step, never the yield
                used.add(torch.get_num_threads())
                x = to_tensor(train_ds.images[idx], ispec, device)
                if augment:
                    x = augment_batch(x, g)
                y = torch.from_numpy(train_ds.labels[idx]).to(device)
                try:
                    logits = model(x)
                except (RuntimeError, ValueError, IndexError, TypeError, AssertionError) as exc:
                    raise TrainError(forward_error(model, x, exc)) from None  # as predict (eval) says it
                loss = F.cross_entropy(logits, y)
                if not torch.isfinite(loss):
                    raise TrainError(f"training diverged at step {step + 1} (loss {loss.item()}); lower the "
                                     f"learning rate or use an initialisation with a smaller scale")
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                restore_frozen(model)
            step += 1
            done = b + 1
            seen += len(idx)
            hits += int((logits.argmax(1) == y).sum())
            loss_sum += float(loss.detach()) * len(idx)
            train_acc = hits / seen
            rec = TrainStep("step", epoch + 1, step, steps_per_epoch, float(loss.detach()), train_acc, None,
                            float(sched.get_last_lr()[0]))
            yield Progress(step, total_steps, f"epoch {epoch + 1}/{cfg.epochs} step {b + 1}/{steps_per_epoch}: "
                                              f"loss {float(loss.detach()):.3f}, train {train_acc:.1%}", rec)
        complete = done == steps_per_epoch
        stopped = not complete or (bool(cfg.max_steps and step >= cfg.max_steps) and epoch + 1 < cfg.epochs)
        last = epoch + 1 == cfg.epochs or stopped
        epochs_done = epoch + 1 if complete else epoch
        val_acc = (yield from _eval_quiet(model, val_ds, ispec, cancel, "validation")).top1 if len(val_ds) else None
        if last:
            test_acc = (yield from _eval_quiet(model, test_ds, ispec, cancel, "test")).top1
        rec = TrainStep("epoch", epoch + 1, step, steps_per_epoch, loss_sum / max(1, seen), train_acc, test_acc,
                        float(sched.get_last_lr()[0]), val_acc, complete)
        history.append(rec)
        if cfg.out:
            _save(model, spec, cfg, ispec, len(val_ds), val_acc, test_acc, epochs_done, step, opt, sched, g,
                  classes=tuple(train_ds.classes), augment=augment, total_steps=total_steps, schedule=schedule,
                  partial=None if complete else {"epoch": epoch + 1, "steps": done, "of": steps_per_epoch,
                                                 "sums": [seen, hits, loss_sum]},
                  threads=_threads_record(threads_before, used, fixed), side=side, fit=fit)
        val_text = f"val {val_acc:.2%}" if val_acc is not None else "no validation split"
        test_text = f", test {test_acc:.2%}" if test_acc is not None else ""
        part = "" if complete else f" (stopped by max steps after {done} of {steps_per_epoch} steps)"
        yield Progress(step, total_steps, f"epoch {epoch + 1}/{cfg.epochs}{part}: loss {rec.loss:.3f}, "
                                          f"train {train_acc:.1%}, {val_text}{test_text}", rec)
        if last:
            break
    model.eval()
    out = str(checkpoint_paths(cfg.out)[0]) if cfg.out else None
    threads = {**tuner.report(), "used": sorted(used), "fixed": fixed}
    return TrainResult(spec, cfg, train_acc, test_acc, epochs_done, tuple(history), time.monotonic() - t0,
                       counts.trainable, counts.frozen, out, val_acc, len(val_ds), ispec, froze, threads,
                       data_notes(train_ds, test_ds), step, total_steps, stopped, tuple(notes), len(test_ds))


def _threads_record(before: dict, used: set[int], fixed: bool) -> dict[str, Any]:
    """The sidecar's ``threads``: every count the run's steps used (a resumed run adds the checkpoint's) and whether
    the count was fixed throughout (only then are the weights bit-reproducible from the seed)."""
    was = [int(n) for n in before.get("used") or () if isinstance(n, int)]
    return {"used": sorted(set(was) | used), "fixed": bool(before.get("fixed", True)) and fixed}


def threads_text(threads: dict | None) -> str:
    """``"1-2 (automatic: adapted to the load; ...)"``: the counts a run's steps used, for its output."""
    if not threads or not threads.get("used"):
        return "none used (no training step ran)"
    used = threads["used"]
    counts = str(used[0]) if len(used) == 1 else f"{used[0]}-{used[-1]}"
    if threads.get("fixed"):
        return f"{counts} (fixed)"
    return (f"{counts} (automatic: adapted to the machine's load; the count changes the order of float sums, so "
            f"bit-for-bit reproducible weights need a fixed --threads N)")


def _eval_quiet(model, ds, ispec, cancel, what: str) -> Generator[Progress, None, EvalResult]:
    return (yield from _quiet(evaluate(model, ds, ispec, cancel=cancel), what))


def _quiet(gen, what: str):
    """A sub-task's reports as messages only (no step counts: the run's progress is its training steps)."""
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            return stop.value
        yield Progress(0, None, f"{what}: {p.message}")


def _save(model, spec, cfg, ispec, n_val, val_acc, test_acc, epoch, step, opt, sched, g, classes=(), *,
          augment: bool, total_steps: int, schedule: dict, partial: dict | None, threads: dict,
          side: dict | None, fit: dict | None = None) -> None:
    """One checkpoint set. ``epoch``: the complete epochs; ``partial``: the epoch max_steps stopped part-way through
    (its steps and running sums go into the state, so a resume continues it at the very step). The options are the
    resolved values used (not null for a default). On a resume (``side``: the checkpoint's sidecar) the architecture
    and the starting weights are the first run's: the resumed spec is only the checkpoint reloaded. ``fit``: the
    record of the filters' fit on the training split (``app.probe.extract.fit_backbone``; a data-dependent backbone
    only), stored as the sidecar's ``fit``."""
    if side is not None and isinstance(side.get("architecture"), dict):
        arch = side["architecture"]
        started_from = side.get("started_from")
    else:
        arch = replace(spec, weights=None, init="default" if spec.init == "checkpoint" else spec.init, input=None)
        started_from = Path(spec.weights).name if spec.weights else None
    opts = {k: v for k, v in asdict(cfg).items() if k not in ("resume",)}
    opts.update(lr=cfg.resolved_lr(), weight_decay=cfg.resolved_wd(), augment=bool(augment), val=int(n_val),
                nesterov=cfg.nesterov)
    state = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "step": step,
             "augment_rng": g.get_state(), "total_steps": int(total_steps)}
    if partial is not None:
        state["epoch_sums"] = list(partial["sums"])
    save_set(model, cfg.out, arch, state, epoch, dataset=cfg.dataset, seed=cfg.seed, accuracy=test_acc,
             options=opts, input=ispec,
             extra={"steps": step,
                    "partial_epoch": None if partial is None else {k: partial[k] for k in ("epoch", "steps", "of")},
                    "schedule": {**schedule, "total_steps": int(total_steps)}, "threads": threads,
                    "val": n_val, "val_accuracy": val_acc, "test_accuracy": test_acc,
                    "started_from": started_from, **({"fit": fit} if fit is not None else {}),
                    "trainable": param_counts(model).trainable,
                    "classes": list(classes)})  # the classifier's outputs, in order: checked where it is scored


__all__ = ["TrainConfig", "TrainStep", "TrainResult", "EvalResult", "TrainError", "train", "evaluate",
           "augment_batch", "check_dataset", "state_path", "WeightsError"]
