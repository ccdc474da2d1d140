"""Safety limits on declared sizes, checked before anything is allocated (no Qt).

A file can declare a size it does not hold: a 389 KB PNG of 20000x20000 pixels, a ``.npy`` header saying
(10^9, 3, 3), a CIFAR pickle declaring 300,000 images. Every reader checks the declared size against a limit here
first and raises ``app.errors.LimitError`` naming the limit and how to lift it. ``FILTER_EXPLORER_LIMITS=off``
turns every limit off (for users who mean it); each check also takes an explicit ``limit`` (None: the default).
"""

from __future__ import annotations

import math
import os

from app.errors import LimitError

LIMITS_ENV = "FILTER_EXPLORER_LIMITS"

MAX_IMAGE_PIXELS = 64_000_000  # one decoded image (8000 x 8000): 192 MB as RGB
MAX_ARRAY_BYTES = 512 * 1024 * 1024  # one array declared by a file header (a kernel bank, a CIFAR batch member)
MAX_DATASET_BYTES = 8 * 1024 ** 3  # one parsed dataset split (IDX images)
MAX_BATCH_IMAGES = 100_000  # images in one CIFAR python batch (the official ones hold 10,000 or 50,000)


def enabled() -> bool:
    """False when ``FILTER_EXPLORER_LIMITS`` is off/0/no/false."""
    return os.environ.get(LIMITS_ENV, "").strip().lower() not in ("off", "0", "no", "false", "none")


def _hint() -> str:
    return f"set {LIMITS_ENV}=off to lift the limit if you mean it"


def check_count(what: str, value: int, limit: int, unit: str = "") -> None:
    """Raise LimitError when ``value`` (a declared count) is over ``limit``."""
    if enabled() and int(value) > int(limit):
        u = f" {unit}" if unit else ""
        raise LimitError(f"{what}: {int(value):,}{u} is over the limit of {int(limit):,}{u}; nothing was read "
                         f"({_hint()})")


def check_pixels(what: str, width: int, height: int, limit: int | None = None) -> None:
    """An image's declared width x height against ``MAX_IMAGE_PIXELS``."""
    limit = MAX_IMAGE_PIXELS if limit is None else limit
    if enabled() and int(width) * int(height) > int(limit):
        raise LimitError(f"{what}: {int(width)}x{int(height)} = {int(width) * int(height):,} pixels is over the "
                         f"image limit of {int(limit):,} pixels; not decoded ({_hint()})")


def declared_bytes(shape, itemsize: int) -> int:
    """Bytes an array of ``shape`` would take (exact Python integers: no overflow)."""
    return math.prod(int(s) for s in shape) * int(itemsize)


def check_array(what: str, shape, itemsize: int, limit: int | None = None) -> None:
    """A declared array shape (and item size) against ``MAX_ARRAY_BYTES``."""
    limit = MAX_ARRAY_BYTES if limit is None else limit
    n = declared_bytes(shape, itemsize)
    if enabled() and n > int(limit):
        raise LimitError(f"{what}: the declared shape {tuple(int(s) for s in shape)} takes {_size(n)}, over the "
                         f"limit of {_size(int(limit))}; nothing was allocated ({_hint()})")


def _size(n: int) -> str:
    from app.storage import human_size

    return human_size(n) if n < 1024 ** 4 else f"{n / 1024 ** 4:.3g} TB"
