"""Full training of a backbone (the "trained" baseline), as a task generator.

    result = run_to_end(train(spec, TrainConfig(dataset="mnist", epochs=2, out="runs/simple_mnist")))

Protocol: a seeded validation split (``TrainConfig.val`` images; default ``app.data.core.default_val``, the
probe's: 5000 for datasets of at least 20,000 training images, else 20%; 0 allowed and recorded) is carved from the
training data with ``ArrayDataset.split_off(val, seed)``; every epoch reports train and validation accuracy; the test split is
evaluated once, at the end. Subsets (``train_limit``/``test_limit``) use the same ``seed`` (the data seed; the
model's own seed is ``ModelSpec.seed``).

The input spec is resolved once, up front (``app.models.inputs.input_spec`` with the training set's statistics;
a size-free model records the training images' size) and used by training, validation and test
(``app.models.inputs.to_tensor``); the checkpoint's sidecar stores it (``InputSpec.to_dict()``).

``train`` yields ``Progress(step, total_steps, message, payload=TrainStep(...))`` after every step and one with
``kind="epoch"`` after every epoch; it checks ``cancel`` between steps. Optimisers: SGD with momentum (default) or
AdamW; cosine schedule over all steps; flip/crop augmentation for natural (RGB) images, none for digits. With ``out``
set, a checkpoint set (``app.models.checkpoint``: weights, sidecar, training state, manifest written last) is saved
after every epoch; ``resume`` continues from such a set after verifying it.

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

from app.data.core import class_problem, data_notes
from app.models.base import ModelError
from app.models.build import baked, build, restore_frozen
from app.models.checkpoint import save_set, state_path, verify_set
from app.models.evaluate import EvalResult, evaluate, load_split
from app.models.freeze import NORMS, apply_freeze, param_counts
from app.models.inputs import InputSpec, dataset_stats, input_spec, to_tensor
from app.models.spec import ModelSpec
from app.models.weights import WeightsError, checkpoint_paths
from app.tasks import CancelToken, Progress, check
from app.threads import ThreadTuner


class TrainError(ModelError):
    """Training cannot start or continue (nothing to train, bad resume file ...)."""




@dataclass(frozen=True)
class TrainConfig:
    dataset: str
    epochs: int = 1
    optimizer: str = "sgd"  # sgd | adamw
    lr: float | None = None  # default 0.05 (sgd) / 1e-3 (adamw)
    momentum: float = 0.9
    weight_decay: float | None = None  # default 5e-4 (sgd) / 0.05 (adamw)
    batch_size: int = 128
    augment: bool | None = None  # None: flip + crop for RGB images, nothing for gray (digits)
    train_limit: int | None = None
    test_limit: int | None = None
    data_root: str | None = None
    seed: int = 0  # the data seed: subsets, validation split, shuffles, augmentation
    out: str | None = None  # checkpoint path stem (written every epoch)
    resume: str | None = None  # a checkpoint written by train (its .state.pt beside it)
    max_steps: int | None = None  # stop after this many steps in total (tests, quick looks)
    val: int | None = None  # validation images carved from the training data (None: 5000 / 20%, default_val; 0: none)

    def resolved_lr(self) -> float:
        return float(self.lr if self.lr is not None else (0.05 if self.optimizer == "sgd" else 1e-3))

    def resolved_wd(self) -> float:
        return float(self.weight_decay if self.weight_decay is not None else (5e-4 if self.optimizer == "sgd" else 0.05))

    def resolved_val(self, n_train: int, n_classes: int = 0) -> int:
        if self.val is not None:
            return int(self.val)
        from app.data.core import default_val

        return default_val(n_train, n_classes)

    def check(self) -> None:
        if self.epochs < 1:
            raise TrainError("epochs must be at least 1")
        if self.batch_size < 1:
            raise TrainError("batch size must be at least 1")
        if not math.isfinite(self.resolved_lr()) or self.resolved_lr() <= 0:
            raise TrainError(f"the learning rate must be a positive number, got {self.lr}")
        if not math.isfinite(self.resolved_wd()) or self.resolved_wd() < 0:
            raise TrainError(f"the weight decay must be zero or positive, got {self.weight_decay}")
        if not math.isfinite(self.momentum) or not 0 <= self.momentum < 1:
            raise TrainError(f"the momentum must be in [0, 1), got {self.momentum}")
        if self.val is not None and self.val < 0:
            raise TrainError(f"the validation size must be zero or positive, got {self.val}")
        for what, v in (("train limit", self.train_limit), ("test limit", self.test_limit),
                        ("max steps", self.max_steps)):
            if v is not None and v < 1:
                raise TrainError(f"the {what} must be at least 1, got {v}")


@dataclass(frozen=True)
class TrainStep:
    kind: str  # "step" or "epoch"
    epoch: int  # 1-based
    step: int  # global step (1-based)
    steps_per_epoch: int
    loss: float
    train_acc: float  # running accuracy over the epoch so far
    test_acc: float | None = None  # only on the last epoch record (the test split is evaluated once, at the end)
    lr: float = 0.0
    val_acc: float | None = None  # at epoch ends (None when there is no validation split)


@dataclass(frozen=True)
class TrainResult:
    spec: ModelSpec
    config: TrainConfig
    train_acc: float
    test_acc: float | None
    epochs_done: int
    history: tuple[TrainStep, ...]  # the epoch records
    seconds: float
    trainable: int
    frozen: int
    checkpoint: str | None
    val_acc: float | None = None
    n_val: int = 0
    input: InputSpec | None = None
    froze: tuple[str, ...] = ()  # what the freeze entries froze (one line each)
    threads: dict | None = None  # the thread tuner's report of the training steps (app.threads)
    data_notes: tuple[str, ...] = ()  # what loading the splits said (app.data.core.data_notes)


# --- data -------------------------------------------------------------------------------------------------
def check_dataset(ds: Any, what: str) -> None:
    """A split must have images, and labels in 0..classes-1 (``TrainError`` before any training)."""
    name = getattr(ds, "name", "the dataset")
    if len(ds) == 0:
        raise TrainError(f"{name} ({what}): no images; nothing to train or test on")
    n_cls = len(ds.classes)
    labels = np.asarray(ds.labels)
    if n_cls < 1:
        raise TrainError(f"{name} ({what}): no classes")
    if labels.size and (labels.min() < 0 or labels.max() >= n_cls):
        bad = labels[(labels < 0) | (labels >= n_cls)]
        raise TrainError(f"{name} ({what}): {bad.size} label(s) outside 0..{n_cls - 1} (e.g. {int(bad[0])}); "
                         f"the dataset has {n_cls} classes")


def augment_batch(x: torch.Tensor, g: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop (zero padding ``pad``) and horizontal flip, per image."""
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=g) < 0.5
    x = torch.where(flip.view(-1, 1, 1, 1).to(x.device), x.flip(3), x)
    if pad:
        xp = F.pad(x, (pad, pad, pad, pad))
        dx = torch.randint(0, 2 * pad + 1, (n,), generator=g)
        dy = torch.randint(0, 2 * pad + 1, (n,), generator=g)
        # gather the crops with one advanced-indexing op
        rows = (dy.view(-1, 1) + torch.arange(h).view(1, -1)).to(x.device)  # (n, h)
        cols = (dx.view(-1, 1) + torch.arange(w).view(1, -1)).to(x.device)  # (n, w)
        idx_n = torch.arange(n, device=x.device).view(-1, 1, 1)
        x = xp.permute(0, 2, 3, 1)[idx_n, rows.view(n, h, 1), cols.view(n, 1, w)].permute(0, 3, 1, 2)
    return x.contiguous()



# --- training ----------------------------------------------------------------------------------------------
def _set_train_mode(model: nn.Module) -> None:
    model.train()
    for m in model.modules():
        if isinstance(m, NORMS):
            ps = list(m.parameters(recurse=False))
            if ps and not any(p.requires_grad for p in ps):
                m.eval()


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise TrainError("nothing to train: every parameter is frozen")
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.resolved_lr(), momentum=cfg.momentum, weight_decay=cfg.resolved_wd(),
                               nesterov=cfg.momentum > 0)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.resolved_lr(), weight_decay=cfg.resolved_wd())
    raise TrainError(f"unknown optimizer {cfg.optimizer!r} (sgd or adamw)")


def _load_data(cfg: TrainConfig, data: tuple | None):
    if data is not None:
        train_ds, test_ds = data[0].subset(cfg.train_limit, cfg.seed), data[1].subset(cfg.test_limit, cfg.seed)
    else:
        train_ds = load_split(cfg.dataset, "train", cfg.train_limit, cfg.data_root, cfg.seed)
        test_ds = load_split(cfg.dataset, "test", cfg.test_limit, cfg.data_root, cfg.seed)
    check_dataset(train_ds, "train")
    check_dataset(test_ds, "test")
    problem = class_problem(train_ds, test_ds)
    if problem:
        raise TrainError(problem)
    n_val = cfg.resolved_val(len(train_ds), len(train_ds.classes))
    if n_val >= len(train_ds):
        raise TrainError(f"a validation split of {n_val} images leaves nothing to train on ({cfg.dataset} has "
                         f"{len(train_ds)} training images); use --val with a smaller number or 0")
    train_ds, val_ds = train_ds.split_off(n_val, cfg.seed)
    return train_ds, val_ds, test_ds


def resolve_input(spec: ModelSpec, model: nn.Module, train_ds: Any) -> InputSpec:
    """The input spec of a training run, once: the model's own, else the training set's statistics; a model that
    takes any size records the training images' size (what later evaluations resize to)."""
    ispec = input_spec(spec, model, stats=dataset_stats(train_ds))
    if ispec.size is None:
        ispec = ispec.with_(size=(int(train_ds.images.shape[1]), int(train_ds.images.shape[2])))
    return ispec


def train(spec: ModelSpec, cfg: TrainConfig, device: torch.device | str | None = None,
          cancel: CancelToken | None = None, model: nn.Module | None = None, data: tuple | None = None,
          ) -> Generator[Progress, None, TrainResult]:
    """Train ``spec`` (or an already built ``model`` of it) end to end on ``cfg.dataset``; see the module doc.

    ``data``: (train, test) ``ArrayDataset``s already in memory (then ``cfg.dataset`` is only a name)."""
    t0 = time.monotonic()
    cfg.check()
    yield Progress(0, None, f"loading {cfg.dataset}")
    train_ds, val_ds, test_ds = _load_data(cfg, data)
    check(cancel)
    n_classes = len(train_ds.classes)
    resume_state = None
    if cfg.resume:
        try:
            resume_state = verify_set(cfg.resume)
        except ModelError as exc:
            raise TrainError(str(exc)) from None
        spec = replace(spec, weights=str(checkpoint_paths(cfg.resume)[0]), init="checkpoint",
                       banks=baked(spec.banks))  # the weights hold the banks; their frozen kernels stay frozen
        model = None
    if model is None:
        yield Progress(0, None, f"building {spec.label or spec.backbone}")
        model = build(spec, device=device)
    device = next(model.parameters()).device
    froze: tuple[str, ...] = tuple(getattr(model, "fe_froze", ()))
    if getattr(model, "num_classes", None) != n_classes:
        with torch.random.fork_rng(devices=[]):  # a seeded head: the same spec trains the same way
            torch.manual_seed(int(spec.seed) + 2)
            model.reset_classifier(n_classes)
        froze = tuple(apply_freeze(model, spec.freeze))  # patterns that name the head apply to the new one too
    ispec = resolve_input(spec, model, train_ds)
    augment = train_ds.channels == 3 if cfg.augment is None else bool(cfg.augment)
    opt = make_optimizer(model, cfg)
    steps_per_epoch = math.ceil(len(train_ds) / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    if cfg.max_steps:
        total_steps = min(total_steps, cfg.max_steps)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / max(1, total_steps))))
    start_epoch, step = 0, 0
    history: list[TrainStep] = []
    if resume_state is not None:
        try:
            opt.load_state_dict(resume_state["optimizer"])
            sched.load_state_dict(resume_state["scheduler"])
            start_epoch = int(resume_state["epoch"])
            step = int(resume_state["step"])
        except (KeyError, ValueError, RuntimeError, TypeError) as exc:
            raise TrainError(f"cannot resume from {cfg.resume}: the training state does not match this model and "
                             f"optimizer ({str(exc)[:200]})") from None
        if start_epoch >= cfg.epochs:
            raise TrainError(f"cannot resume from {cfg.resume}: it already has {start_epoch} epoch(s); ask for more "
                             f"with --epochs")
    g = torch.Generator().manual_seed(cfg.seed)
    if resume_state is not None and isinstance(resume_state.get("augment_rng"), torch.Tensor):
        g.set_state(resume_state["augment_rng"])  # the same flips and crops as an uninterrupted run
    rng = np.random.default_rng(cfg.seed)
    for _ in range(start_epoch):  # same shuffles as an uninterrupted run
        rng.permutation(len(train_ds))
    counts = param_counts(model)
    tuner = ThreadTuner("train")  # in the thread that runs this task (app.threads; issue 14)
    train_acc, val_acc, test_acc, epoch = 0.0, None, None, start_epoch
    for epoch in range(start_epoch, cfg.epochs):
        _set_train_mode(model)
        order = rng.permutation(len(train_ds))
        seen = hits = 0
        loss_sum = 0.0
        for b in range(steps_per_epoch):
            if cfg.max_steps and step >= cfg.max_steps:
                break
            check(cancel)
            idx = np.sort(order[b * cfg.batch_size:(b + 1) * cfg.batch_size])
            with tuner.step(items=len(idx)):  # the compute of one step, never the yield
                x = to_tensor(train_ds.images[idx], ispec, device)
                if augment:
                    x = augment_batch(x, g)
                y = torch.from_numpy(train_ds.labels[idx]).to(device)
                logits = model(x)
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
            seen += len(idx)
            hits += int((logits.argmax(1) == y).sum())
            loss_sum += float(loss.detach()) * len(idx)
            train_acc = hits / seen
            rec = TrainStep("step", epoch + 1, step, steps_per_epoch, float(loss.detach()), train_acc, None,
                            float(sched.get_last_lr()[0]))
            yield Progress(step, total_steps, f"epoch {epoch + 1}/{cfg.epochs} step {b + 1}/{steps_per_epoch}: "
                                              f"loss {float(loss.detach()):.3f}, train {train_acc:.1%}", rec)
        last = epoch + 1 == cfg.epochs or bool(cfg.max_steps and step >= cfg.max_steps)
        val_acc = (yield from _eval_quiet(model, val_ds, ispec, cancel, "validation")).top1 if len(val_ds) else None
        if last:
            test_acc = (yield from _eval_quiet(model, test_ds, ispec, cancel, "test")).top1
        rec = TrainStep("epoch", epoch + 1, step, steps_per_epoch, loss_sum / max(1, seen), train_acc, test_acc,
                        float(sched.get_last_lr()[0]), val_acc)
        history.append(rec)
        if cfg.out:
            _save(model, spec, cfg, ispec, len(val_ds), val_acc, test_acc, epoch + 1, step, opt, sched, g,
                  classes=tuple(train_ds.classes))
        val_text = f"val {val_acc:.2%}" if val_acc is not None else "no validation split"
        test_text = f", test {test_acc:.2%}" if test_acc is not None else ""
        yield Progress(step, total_steps, f"epoch {epoch + 1}/{cfg.epochs}: loss {rec.loss:.3f}, "
                                          f"train {train_acc:.1%}, {val_text}{test_text}", rec)
        if last:
            epoch += 1
            break
    model.eval()
    out = str(checkpoint_paths(cfg.out)[0]) if cfg.out else None
    return TrainResult(spec, cfg, train_acc, test_acc, epoch, tuple(history), time.monotonic() - t0,
                       counts.trainable, counts.frozen, out, val_acc, len(val_ds), ispec, froze, tuner.report(),
                       data_notes(train_ds, test_ds))


def _eval_quiet(model, ds, ispec, cancel, what: str) -> Generator[Progress, None, EvalResult]:
    gen = evaluate(model, ds, ispec, cancel=cancel)
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            return stop.value
        yield Progress(0, None, f"{what}: {p.message}")


def _save(model, spec, cfg, ispec, n_val, val_acc, test_acc, epoch, step, opt, sched, g, classes=()) -> None:
    arch = replace(spec, weights=None, init="default" if spec.init == "checkpoint" else spec.init, input=None)
    opts = {k: v for k, v in asdict(cfg).items() if k not in ("resume",)}
    state = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "step": step,
             "augment_rng": g.get_state()}
    save_set(model, cfg.out, arch, state, epoch, dataset=cfg.dataset, seed=cfg.seed, accuracy=test_acc,
             options=opts, input=ispec,
             extra={"steps": step, "val": n_val, "val_accuracy": val_acc, "test_accuracy": test_acc,
                    "started_from": Path(spec.weights).name if spec.weights else None,
                    "trainable": param_counts(model).trainable,
                    "classes": list(classes)})  # the classifier's outputs, in order: checked where it is scored


__all__ = ["TrainConfig", "TrainStep", "TrainResult", "EvalResult", "TrainError", "train", "evaluate",
           "augment_batch", "check_dataset", "state_path", "WeightsError"]
