"""Kernel banks: generation, freezing, hand-editing maths, file formats and the ``kernels`` commands.

    from app.kernels import generate, save, load, apply_bank_to_conv, install_frozen_guard
    bank = generate("gabor", 16, 11, in_channels=3, seed=0)
"""

from app.kernels.bank import (MAX_SIZE, KernelBank, KernelBankError, apply_bank_to_conv, frozen_convs,
                              install_frozen_guard, restore_frozen)
from app.kernels.generators import KINDS, generate, kinds
from app.kernels.io import KernelFileError, load, save

__all__ = [
    "MAX_SIZE", "KernelBank", "KernelBankError", "apply_bank_to_conv", "frozen_convs", "install_frozen_guard",
    "restore_frozen", "KINDS", "generate", "kinds", "KernelFileError", "load", "save",
]
