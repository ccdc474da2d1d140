"""A restricted unpickler for the CIFAR *python version* (no Qt).

``safe_unpickle(data, label)`` builds nothing but dicts, lists, strings, numbers and numpy arrays of plain dtypes;
any other global is refused, so a crafted pickle cannot run code. numpy arrays are built only the way numpy's own
pickles build them (``_reconstruct(ndarray, (0,), ...)`` then filled from bytes in the pickle): calling
``numpy.ndarray`` or ``_reconstruct`` with a declared shape (an uninitialised array of any size from a few bytes) is
refused before anything is allocated (``app.data.limits``).
"""

from __future__ import annotations

import io
import pickle

import numpy as np

from app.data import limits
from app.data.core import DatasetError
from app.errors import LimitError


def _allowed_globals() -> dict[tuple[str, str], object]:
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    import _codecs

    def latin1_encode(obj, encoding="latin1", errors="strict"):
        # protocol-2 pickles written by Python 3 store bytes as _codecs.encode(str, 'latin1')
        if encoding not in ("latin1", "latin-1") or not isinstance(obj, str):
            raise pickle.UnpicklingError("forbidden use of _codecs.encode")
        return _codecs.encode(obj, "latin1", errors)

    def dtype(spec, align=False, copy=False):
        d = np.dtype(spec, align, copy)
        if d.hasobject:
            raise pickle.UnpicklingError("object arrays are not allowed")
        return d

    def reconstruct(cls, shape, dt):
        # numpy's pickles build an array as _reconstruct(ndarray, (0,), b"b") and then fill it (BUILD) from bytes
        # that are in the pickle, whose length numpy checks against the shape; any other use would allocate an
        # uninitialised array of a declared size
        if cls is not _NdarrayName:
            raise pickle.UnpicklingError("forbidden use of numpy's _reconstruct")
        if not isinstance(shape, tuple) or not all(isinstance(s, int) and s >= 0 for s in shape):
            raise pickle.UnpicklingError("a malformed array shape")
        limits.check_array("an array in the pickle", shape, dtype(dt).itemsize, limit=0)
        return _reconstruct(np.ndarray, shape, dt)

    allowed = {("numpy", "ndarray"): _NdarrayName, ("numpy", "dtype"): dtype, ("_codecs", "encode"): latin1_encode}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "_reconstruct")] = reconstruct
    return allowed


class _NdarrayName:
    """What the name ``numpy.ndarray`` means in a CIFAR pickle: only the first argument of ``_reconstruct``; calling
    it (``ndarray((300000, 3072))``: an uninitialised 900 MB array from a 193-byte file) is refused."""

    def __init__(self, *args, **kwargs) -> None:
        raise pickle.UnpicklingError("numpy.ndarray may not be called directly in a dataset pickle")


class SafeUnpickler(pickle.Unpickler):
    """Builds only plain containers, strings, numbers and numpy arrays of plain dtypes; anything else fails."""

    _allowed = None

    def find_class(self, module: str, name: str):
        if SafeUnpickler._allowed is None:
            SafeUnpickler._allowed = _allowed_globals()
        try:
            return SafeUnpickler._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"forbidden global {module}.{name}") from None


def safe_unpickle(data: bytes, label: str) -> object:
    try:
        return SafeUnpickler(io.BytesIO(data), encoding="latin1").load()
    except LimitError as exc:
        raise LimitError(f"{label}: {exc}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, OverflowError, MemoryError, RecursionError) as exc:
        raise DatasetError(f"{label}: not a valid CIFAR python batch ({exc.__class__.__name__}: {exc})") from None
