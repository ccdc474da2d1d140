"""The Kernel Workbench's first-launch bank. Qt-free: the start-up computes it off the GUI thread
(``widgets.startup.warm_up``) and the workbench takes the same frozen object."""

from __future__ import annotations

import functools

from app.kernels import generators
from app.kernels.bank import KernelBank


@functools.cache
def default_bank() -> KernelBank:
    """16 Gabor kernels of 11x11, RGB, seed 0 (a ``KernelBank`` is immutable: safe to share across threads)."""
    return generators.generate("gabor", 16, 11, 3, seed=0, name="gabor bank")
