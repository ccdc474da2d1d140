"""The settings of a training run (``TrainConfig``: defaults resolved by ``resolved_lr`` / ``resolved_wd`` /
``resolved_val``, checked by ``check``) and its error (``TrainError``); ``app.models.train`` runs it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from app.models.base import ModelError


class TrainError(ModelError):
    """Training cannot start or continue (nothing to train, bad resume file ...)."""




@dataclass(frozen=True)
class TrainConfig:
    dataset: str
    epochs: int = 1
    optimizer: str = "sgd"  # sgd (with Nesterov momentum: ``nesterov``) | adamw
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
    max_steps: int | None = None  # stop after this many optimizer steps in total (counted across resumes); the
    # schedule still spans ``epochs``: this stops a run early (tests, quick looks), it does not shorten it
    val: int | None = None  # validation images carved from the training data (None: 5000 / 20%, default_val; 0: none)

    @property
    def nesterov(self) -> bool:
        """Whether the optimiser uses Nesterov momentum: SGD with a momentum above 0 (the default: 0.9) does."""
        return self.optimizer == "sgd" and self.momentum > 0

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
