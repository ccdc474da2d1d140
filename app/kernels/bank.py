"""The kernel bank: a float32 tensor (out_channels, in_channels, k, k) plus a per-kernel frozen flag.

A ``KernelBank`` is immutable (its arrays are read-only); every change returns a new bank. That makes it safe to
hand to worker threads, to keep in undo stacks and to share through ``app.session.Session``.

Freezing is enforced for training by ``apply_bank_to_conv`` + ``install_frozen_guard`` (see their docstrings):

    conv = nn.Conv2d(bank.in_channels, bank.out_channels, bank.size, padding=bank.size // 2)
    apply_bank_to_conv(conv, bank)           # copies weights, zeroes grads of frozen kernels
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    install_frozen_guard(opt, model)         # after every step, frozen kernels are restored bit for bit
"""

from __future__ import annotations

from app.errors import AppError

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

MAX_SIZE = 15  # largest kernel side the workbench generates and edits
# meta flag of a bank a checkpoint was trained from (the same key as ``app.models.build.IN_WEIGHTS``: its weights
# hold the bank already); a bank read from a file never has it (``app.kernels.io.load``)
IN_WEIGHTS = "in_weights"
MAX_CHANNELS = 4096


class KernelBankError(AppError, ValueError):
    """A bank could not be built from the given values; the message says what is wrong."""


def readonly(a: np.ndarray) -> np.ndarray:
    """A C-contiguous, read-only array (what may cross threads and stay in undo stacks)."""
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


@dataclass(frozen=True, eq=False)
class KernelBank:
    weights: np.ndarray  # float32 (out, in, k, k), read-only
    frozen: np.ndarray  # bool (out,), read-only
    name: str = "bank"
    meta: dict[str, Any] = field(default_factory=dict)  # generator, params, seed ... (JSON-safe)

    def __post_init__(self) -> None:
        w = np.array(self.weights, dtype=np.float32, copy=True)
        if w.ndim != 4:
            raise KernelBankError(f"a bank is 4-D (out, in, k, k); got shape {tuple(w.shape)}")
        o, i, kh, kw = w.shape
        if kh != kw:
            raise KernelBankError(f"kernels must be square; got {kh}x{kw}")
        if not (1 <= kh <= MAX_SIZE):
            raise KernelBankError(f"kernel size must be 1..{MAX_SIZE}; got {kh}")
        if not (1 <= o <= MAX_CHANNELS) or not (1 <= i <= MAX_CHANNELS):
            raise KernelBankError(f"out/in channels must be 1..{MAX_CHANNELS}; got {o} and {i}")
        if not np.all(np.isfinite(w)):
            bad = int(np.size(w) - np.count_nonzero(np.isfinite(w)))
            raise KernelBankError(f"the kernels hold {bad} NaN/Inf value(s)")
        fr = self.frozen
        fr = np.zeros(o, dtype=bool) if fr is None else np.array(fr, dtype=bool, copy=True).reshape(-1)
        if fr.shape != (o,):
            raise KernelBankError(f"frozen flags: expected {o} values (one per kernel), got {fr.size}")
        object.__setattr__(self, "weights", readonly(w))
        object.__setattr__(self, "frozen", readonly(fr))
        object.__setattr__(self, "meta", dict(self.meta or {}))

    # --- shape -----------------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int, int, int]:
        return tuple(int(s) for s in self.weights.shape)  # type: ignore[return-value]

    @property
    def out_channels(self) -> int:
        return self.shape[0]

    @property
    def in_channels(self) -> int:
        return self.shape[1]

    @property
    def size(self) -> int:
        return self.shape[2]

    def __len__(self) -> int:
        return self.out_channels

    # --- freezing --------------------------------------------------------------------------------------
    def frozen_mask(self) -> np.ndarray:
        """bool (out,): True where the kernel must never be changed by training (a writable copy)."""
        return self.frozen.copy()

    @property
    def params_per_kernel(self) -> int:
        return self.in_channels * self.size * self.size

    def frozen_count(self) -> int:
        return int(self.frozen.sum())

    def parameter_counts(self) -> tuple[int, int]:
        """(frozen parameters, trainable parameters) of the weights (no bias)."""
        f = self.frozen_count() * self.params_per_kernel
        return f, self.out_channels * self.params_per_kernel - f

    def counts_text(self) -> str:
        f, t = self.parameter_counts()
        return (f"{self.frozen_count()} of {self.out_channels} kernels frozen: "
                f"{f:,} frozen / {t:,} trainable parameters")

    # --- changes (each returns a new bank) ----------------------------------------------------------------
    def with_frozen(self, index: int | Iterable[int] | None, flag: bool) -> "KernelBank":
        fr = self.frozen.copy()
        if index is None:
            fr[:] = flag
        else:
            fr[np.atleast_1d(np.asarray(index, dtype=np.int64))] = flag
        return KernelBank(self.weights, fr, self.name, self.meta)

    def with_kernel(self, index: int, kernel: np.ndarray) -> "KernelBank":
        k = np.asarray(kernel, dtype=np.float32)
        if k.shape != self.shape[1:]:
            raise KernelBankError(f"kernel shape {tuple(k.shape)} does not fit the bank's {self.shape[1:]}")
        w = self.weights.copy()
        w[index] = k
        meta = dict(self.meta)
        meta["edited"] = True
        return KernelBank(w, self.frozen, self.name, meta)

    def renamed(self, name: str) -> "KernelBank":
        return KernelBank(self.weights, self.frozen, name, self.meta)

    def kernel(self, index: int) -> np.ndarray:
        return self.weights[index]

    def tensor(self):
        """The weights as a new torch float32 tensor (out, in, k, k)."""
        import torch

        return torch.from_numpy(self.weights.copy())

    def equals(self, other: "KernelBank") -> bool:
        """Same shape, bit-identical weights and the same frozen flags."""
        return (isinstance(other, KernelBank) and self.shape == other.shape
                and np.array_equal(self.weights.view(np.uint32), other.weights.view(np.uint32))
                and np.array_equal(self.frozen, other.frozen))

    def stats(self) -> dict[str, float]:
        w = self.weights.astype(np.float64)
        norms = np.sqrt((w.reshape(self.out_channels, -1) ** 2).sum(1))
        return {"min": float(w.min()), "max": float(w.max()), "mean": float(w.mean()), "std": float(w.std()),
                "mean_kernel_norm": float(norms.mean())}


# --- enforcing frozen kernels during training ------------------------------------------------------------
_REF = "_fe_frozen_ref"
_MASK = "_fe_frozen_mask"


def apply_bank_to_conv(conv, bank: KernelBank) -> None:
    """Copy the bank into ``conv.weight`` and make its frozen kernels untouchable by training.

    * the weights are copied (shape must match ``conv.weight``: (out, in/groups, k, k));
    * a gradient hook zeroes the gradient rows of frozen output channels (so momentum never builds up);
    * the frozen rows and the mask are kept on the conv as non-persistent buffers (they follow ``.to(device)``,
      and stay out of ``state_dict``), so ``restore_frozen(model)`` can put them back bit for bit.

    Weight decay and momentum still move a parameter whose gradient is zero: call ``install_frozen_guard``
    on the optimizer (or ``restore_frozen(model)`` after each step) to undo that. Bias is not frozen.
    """
    import torch

    w = conv.weight
    if tuple(w.shape) != bank.shape:
        raise KernelBankError(f"bank shape {bank.shape} does not fit the conv weight {tuple(w.shape)}")
    with torch.no_grad():
        w.copy_(torch.from_numpy(bank.weights.copy()).to(w.device, w.dtype))
    mask = torch.from_numpy(bank.frozen_mask()).to(w.device)
    # drop an earlier hook/buffers when a bank is applied twice
    old = getattr(conv, "_fe_hook", None)
    if old is not None:
        old.remove()
    conv.register_buffer(_MASK, mask, persistent=False)
    conv.register_buffer(_REF, w.detach().clone(), persistent=False)
    if bool(mask.any()):
        def _zero_frozen_grad(grad, conv=conv):
            m = getattr(conv, _MASK).to(grad.device)
            return grad.masked_fill(m.view(-1, *([1] * (grad.dim() - 1))), 0.0)

        conv._fe_hook = w.register_hook(_zero_frozen_grad)
    else:
        conv._fe_hook = None


def frozen_convs(model) -> list:
    """Every module of ``model`` (itself included) that carries frozen kernels from ``apply_bank_to_conv``."""
    return [m for m in model.modules() if hasattr(m, _MASK) and bool(getattr(m, _MASK).any())]


def restore_frozen(model) -> int:
    """Put every frozen kernel back to its applied value (bit for bit). Returns the number of kernels restored."""
    import torch

    n = 0
    with torch.no_grad():
        for conv in frozen_convs(model):
            mask = getattr(conv, _MASK)
            ref = getattr(conv, _REF)
            conv.weight[mask] = ref[mask].to(conv.weight.dtype)
            n += int(mask.sum())
    return n


def install_frozen_guard(optimizer, model):
    """Restore frozen kernels after every ``optimizer.step()`` (undoes weight decay and momentum on them).

    Returns the hook handle (``.remove()`` to detach). Uses ``Optimizer.register_step_post_hook``.
    """
    return optimizer.register_step_post_hook(lambda opt, args, kwargs: restore_frozen(model))
