"""Full training of a backbone (the "trained" baseline) and evaluation, as task generators.

    result = run_to_end(train(spec, TrainConfig(dataset="mnist", epochs=2, out="runs/simple_mnist")))
    acc = run_to_end(evaluate(model, "mnist", split="test")).top1

``train`` yields ``Progress(step, total_steps, message, payload=TrainStep(...))`` after every step and one with
``kind="epoch"`` (with the test accuracy) after every epoch; it checks ``cancel`` between steps. Optimisers: SGD
with momentum (default) or AdamW; cosine schedule over all steps; flip/crop augmentation for natural (RGB) images,
none for digits. With ``out`` set, a checkpoint (``out.safetensors`` + ``out.json`` sidecar) and the training state
(``out.state.pt``: optimizer, scheduler, epoch; read back with ``weights_only=True``) are written atomically after
every epoch; ``resume`` continues from such a checkpoint.

Frozen parameters (``requires_grad`` off) are not given to the optimiser, so they stay bit-identical; kernels a
Workbench bank froze inside a trainable conv get zero gradients and are restored bit for bit after every step
(weight decay and momentum would move them otherwise). Batch-norm layers whose parameters are all frozen stay in
eval mode (their running statistics do not move either).
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Generator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from app.models.base import ModelError
from app.models.build import InputSpec, build, input_spec, preprocess, restore_frozen
from app.models.freeze import NORMS, apply_freeze, param_counts
from app.models.spec import ModelSpec
from app.models.weights import WeightsError, checkpoint_paths, save_checkpoint
from app.tasks import CancelToken, Progress, check


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
    seed: int = 0
    out: str | None = None  # checkpoint path stem (written every epoch)
    resume: str | None = None  # a checkpoint written by train (its .state.pt beside it)
    max_steps: int | None = None  # stop after this many steps in total (tests, quick looks)

    def resolved_lr(self) -> float:
        return float(self.lr if self.lr is not None else (0.05 if self.optimizer == "sgd" else 1e-3))

    def resolved_wd(self) -> float:
        return float(self.weight_decay if self.weight_decay is not None else (5e-4 if self.optimizer == "sgd" else 0.05))


@dataclass(frozen=True)
class TrainStep:
    kind: str  # "step" or "epoch"
    epoch: int  # 1-based
    step: int  # global step (1-based)
    steps_per_epoch: int
    loss: float
    train_acc: float  # running accuracy over the epoch so far
    test_acc: float | None = None  # at epoch ends
    lr: float = 0.0


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


@dataclass(frozen=True)
class EvalResult:
    top1: float
    n: int
    correct: int
    per_class: tuple[float, ...] = field(default=())


# --- data -------------------------------------------------------------------------------------------------
def load_split(dataset: str, split: str, limit: int | None, root: str | None, seed: int):
    from app.data import load

    ds = load(dataset, split, root)
    return ds.subset(limit, seed=seed) if limit else ds


def _is_natural(ds) -> bool:
    return ds.channels == 3


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


def used_input(ispec: InputSpec, ds) -> dict[str, Any]:
    """The input actually used (model's normalisation, else the dataset's): goes into the sidecar."""
    mean = ispec.mean if ispec.mean is not None else tuple(ds.mean) or (0.5,) * ispec.channels
    std = ispec.std if ispec.std is not None else tuple(ds.std) or (0.25,) * ispec.channels
    c = ispec.channels
    mean = tuple(mean) if len(mean) == c else (float(np.mean(mean)),) * c
    std = tuple(std) if len(std) == c else (float(np.mean(std)),) * c
    return {"channels": c, "size": ispec.size or int(ds.images.shape[1]), "mean": list(mean), "std": list(std)}


# --- evaluation --------------------------------------------------------------------------------------------
def evaluate(model: nn.Module, dataset: str | Any, split: str = "test", limit: int | None = None,
             root: str | None = None, batch_size: int = 256, ispec: InputSpec | None = None,
             device: torch.device | str | None = None, cancel: CancelToken | None = None,
             seed: int = 0) -> Generator[Progress, None, EvalResult]:
    """Top-1 accuracy of ``model`` on a dataset split (preprocessed as ``input_spec(model)`` says)."""
    ds = load_split(dataset, split, limit, root, seed) if isinstance(dataset, str) else dataset
    ispec = ispec or input_spec(model)
    n_head = getattr(model, "num_classes", None)
    if n_head is not None and n_head != len(ds.classes):
        raise ModelError(f"the model's head has {n_head or 'no'} classes but {getattr(ds, 'name', 'the dataset')} has "
                         f"{len(ds.classes)}: train it on this dataset first (or use a probe head)")
    if device is None:
        device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    n = len(ds)
    n_cls = len(ds.classes)
    correct = 0
    hit = np.zeros(n_cls, dtype=np.int64)
    seen = np.zeros(n_cls, dtype=np.int64)
    try:
        with torch.inference_mode():
            for start in range(0, n, batch_size):
                check(cancel)
                x = preprocess(ds.images[start:start + batch_size], ispec, ds.mean, ds.std, device)
                y = torch.from_numpy(ds.labels[start:start + batch_size])
                pred = model(x).argmax(1).cpu()
                ok = (pred == y).numpy()
                correct += int(ok.sum())
                np.add.at(hit, y.numpy(), ok.astype(np.int64))
                np.add.at(seen, y.numpy(), 1)
                done = min(n, start + batch_size)
                yield Progress(done, n, f"evaluating: {done}/{n} images, top-1 {correct / done:.2%}")
    finally:
        model.train(was_training)
    per_class = tuple(float(h / s) if s else 0.0 for h, s in zip(hit, seen))
    return EvalResult(correct / max(1, n), n, correct, per_class)


# --- training ----------------------------------------------------------------------------------------------
def _set_train_mode(model: nn.Module) -> None:
    model.train()
    for m in model.modules():
        if isinstance(m, NORMS):
            ps = list(m.parameters(recurse=False))
            if ps and not any(p.requires_grad for p in ps):
                m.eval()


def _atomic_torch_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def state_path(out: str | Path) -> Path:
    st, _ = checkpoint_paths(out)
    return st.with_name(st.name[: -len(".safetensors")] + ".state.pt")


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


def train(spec: ModelSpec, cfg: TrainConfig, device: torch.device | str | None = None,
          cancel: CancelToken | None = None, model: nn.Module | None = None, data: tuple | None = None,
          ) -> Generator[Progress, None, TrainResult]:
    """Train ``spec`` (or an already built ``model`` of it) end to end on ``cfg.dataset``; see the module doc.

    ``data``: (train, test) ``ArrayDataset``s already in memory (then ``cfg.dataset`` is only a name)."""
    t0 = time.monotonic()
    if cfg.epochs < 1:
        raise TrainError("epochs must be at least 1")
    if cfg.batch_size < 1:
        raise TrainError("batch size must be at least 1")
    yield Progress(0, None, f"loading {cfg.dataset}")
    if data is not None:
        train_ds, test_ds = data[0].subset(cfg.train_limit, cfg.seed), data[1].subset(cfg.test_limit, cfg.seed)
    else:
        train_ds = load_split(cfg.dataset, "train", cfg.train_limit, cfg.data_root, cfg.seed)
        test_ds = load_split(cfg.dataset, "test", cfg.test_limit, cfg.data_root, cfg.seed)
    check(cancel)
    n_classes = len(train_ds.classes)
    resume_state = None
    if cfg.resume:
        sp = state_path(cfg.resume)
        if not sp.is_file():
            raise TrainError(f"cannot resume: {sp.name} (the training state written beside the checkpoint) is missing")
        try:
            resume_state = torch.load(sp, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise TrainError(f"cannot resume: {sp.name} is not a readable training state ({str(exc)[:200]})") from None
        spec = replace(spec, weights=str(checkpoint_paths(cfg.resume)[0]), init="checkpoint")
    if model is None:
        yield Progress(0, None, f"building {spec.label or spec.backbone}")
        model = build(spec, device=device)
    device = next(model.parameters()).device
    if getattr(model, "num_classes", None) != n_classes:
        with torch.random.fork_rng(devices=[]):  # a seeded head: the same spec trains the same way
            torch.manual_seed(int(spec.seed) + 2)
            model.reset_classifier(n_classes)
        apply_freeze(model, spec.freeze)  # patterns that name the head apply to the new one too
    # the input the model sees: its own normalisation (trained checkpoints) or the dataset's
    ispec0 = input_spec(model if getattr(model, "fe_spec", None) is not None else spec)
    inp = used_input(ispec0, train_ds)
    ispec = InputSpec(inp["channels"], ispec0.size, tuple(inp["mean"]), tuple(inp["std"]))
    augment = _is_natural(train_ds) if cfg.augment is None else bool(cfg.augment)
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
        except (KeyError, ValueError, RuntimeError) as exc:
            raise TrainError(f"cannot resume from {cfg.resume}: the training state does not match this model and "
                             f"optimizer ({str(exc)[:200]})") from None
    g = torch.Generator().manual_seed(cfg.seed)
    if resume_state is not None and isinstance(resume_state.get("augment_rng"), torch.Tensor):
        g.set_state(resume_state["augment_rng"])  # the same flips and crops as an uninterrupted run
    rng = np.random.default_rng(cfg.seed)
    for _ in range(start_epoch):  # same shuffles as an uninterrupted run
        rng.permutation(len(train_ds))
    counts = param_counts(model)
    train_acc, test_acc, epoch = 0.0, None, start_epoch
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
            x = preprocess(train_ds.images[idx], ispec, None, None, device)
            if augment:
                x = augment_batch(x, g)
            y = torch.from_numpy(train_ds.labels[idx]).to(device)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            if not torch.isfinite(loss):
                raise TrainError(f"training diverged at step {step + 1} (loss {loss.item()}); lower the learning "
                                 f"rate or use an initialisation with a smaller scale")
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
        ev = yield from _eval_quiet(model, test_ds, ispec, cancel)
        test_acc = ev.top1
        rec = TrainStep("epoch", epoch + 1, step, steps_per_epoch, loss_sum / max(1, seen), train_acc, test_acc,
                        float(sched.get_last_lr()[0]))
        history.append(rec)
        if cfg.out:
            _save(model, spec, cfg, inp, test_acc, epoch + 1, step, opt, sched, g)
        yield Progress(step, total_steps, f"epoch {epoch + 1}/{cfg.epochs}: loss {rec.loss:.3f}, "
                                          f"train {train_acc:.1%}, test {test_acc:.2%}", rec)
        if cfg.max_steps and step >= cfg.max_steps:
            epoch += 1
            break
    else:
        epoch = cfg.epochs
    model.eval()
    out = str(checkpoint_paths(cfg.out)[0]) if cfg.out else None
    return TrainResult(spec, cfg, train_acc, test_acc, epoch, tuple(history), time.monotonic() - t0,
                       counts.trainable, counts.frozen, out)


def _eval_quiet(model, ds, ispec, cancel):
    gen = evaluate(model, ds, ispec=ispec, cancel=cancel)
    while True:
        try:
            p = next(gen)
        except StopIteration as stop:
            return stop.value
        yield Progress(0, None, p.message)


def _save(model, spec, cfg, inp, test_acc, epoch, step, opt, sched, g) -> None:
    arch = replace(spec, weights=None, init="default" if spec.init == "checkpoint" else spec.init, banks=())
    opts = {k: v for k, v in asdict(cfg).items() if k not in ("resume",)}
    save_checkpoint(model, cfg.out, arch, dataset=cfg.dataset, seed=cfg.seed, accuracy=test_acc, options=opts,
                    input=inp, extra={"epoch": epoch, "steps": step,
                                      "started_from": Path(spec.weights).name if spec.weights else None,
                                      "banks": [name for name, _ in spec.banks],
                                      "trainable": param_counts(model).trainable})
    _atomic_torch_save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "epoch": epoch, "step": step,
                        "augment_rng": g.get_state()}, state_path(cfg.out))


__all__ = ["TrainConfig", "TrainStep", "TrainResult", "EvalResult", "TrainError", "train", "evaluate",
           "augment_batch", "WeightsError"]
