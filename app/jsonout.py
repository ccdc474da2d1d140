"""Strict JSON for other programs: what the headless commands print with ``--json`` and the JSON files the product
exports (probe history, exported heads, weight side files).

Python's ``json`` writes a float NaN or infinity as the bare tokens ``NaN`` / ``Infinity``, which are not JSON
(RFC 8259): JavaScript's ``JSON.parse``, jq 1.6, Go's ``encoding/json`` and Rust's serde reject the whole document.
The product has such numbers where a quantity does not exist (the loss curve of the closed-form heads, the
per-class accuracy of a class absent from the test images, the CKA of a constant layer). ``dumps`` writes them as
``null`` and refuses any it missed (``allow_nan=False``); numpy scalars and arrays, tuples and sets, and objects with
``to_dict()`` are converted on the way.

Not for content hashes (spec and cache keys keep their own ``json.dumps``: changing their text would change every
key) nor for the SQLite columns the product reads back itself."""

from __future__ import annotations

import json
import math
from typing import Any


def clean(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by None, numpy values as Python ones, tuples and sets as lists,
    objects with ``to_dict()`` as their dicts (recursively)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [clean(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    tolist = getattr(obj, "tolist", None)  # numpy arrays and scalars (without importing numpy)
    if callable(tolist) and type(obj).__module__ == "numpy":
        return clean(tolist())
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return clean(to_dict())
    return obj


def dumps(obj: Any, **kw: Any) -> str:
    """``json.dumps`` of ``clean(obj)``, strict: no NaN or Infinity token can come out (``kw`` as json.dumps's)."""
    return json.dumps(clean(obj), allow_nan=False, **kw)
