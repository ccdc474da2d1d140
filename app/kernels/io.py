"""Saving and loading kernel banks: a readable, versioned JSON format, plus .npy and .npz.

JSON (``.json``)::

    {"format": "filter-explorer-bank", "version": 1, "name": "...", "shape": [out, in, k, k],
     "kernels": [[[[...]]]], "frozen": [false, ...], "meta": {"generator": ..., "params": {...}, "seed": ...}}

``.npz``: arrays ``weights`` (float32, 4-D), ``frozen`` (bool) and ``meta`` (UTF-8 JSON bytes as uint8; no pickle).
``.npy``: the weights only (2-D: one kernel; 3-D: (out, k, k); 4-D: (out, in, k, k)); nothing is frozen.
Every format is read as float32, the precision the models compute in (a float64 or integer .npy is rounded to it).
A file over ``MAX_FILE_BYTES`` is neither read nor written (a large bank: .npz, about 4 bytes a value; JSON ~28).

Every problem with a file raises ``KernelFileError`` whose message names the file and what is wrong. Saving is
atomic (``app.storage.atomic_write``) and deterministic: the same bank gives the same
bytes (the .npz zip entries carry a fixed timestamp).
"""

from __future__ import annotations

from app.errors import AppError

import io
import json
import os
import tokenize
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from app.data import limits
from app.errors import LimitError
from app.kernels.bank import IN_WEIGHTS, KernelBank, KernelBankError
from app.storage import atomic_write

FORMAT = "filter-explorer-bank"
VERSION = 1
EXTENSIONS = (".json", ".npz", ".npy")
MAX_FILE_BYTES = 512 * 1024 * 1024


class KernelFileError(AppError):
    """A bank file could not be read or written; the message says which file and what is wrong."""


def _ext(path: Path) -> str:
    ext = path.suffix.lower()
    if ext not in EXTENSIONS:
        raise KernelFileError(f"{path.name}: unknown bank file type {ext or '(none)'!r}; use .json, .npz or .npy")
    return ext


# --- writing ---------------------------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """``value`` with numpy scalars and arrays as Python numbers and lists (what ``json`` writes); the rest as is
    (``json`` then refuses what it cannot write: ``save`` reports it as a ``KernelFileError``)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    return value


def to_json_bytes(bank: KernelBank) -> bytes:
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "name": bank.name,
        "shape": list(bank.shape),
        "frozen": [bool(f) for f in bank.frozen],
        "meta": _plain(bank.meta),
        "kernels": bank.weights.tolist(),  # float32 -> shortest double repr, round-trips exactly
    }
    # one kernel row per line: readable, and diff-friendly
    text = json.dumps(doc, indent=1, allow_nan=False)
    return text.encode("utf-8") + b"\n"


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(a), allow_pickle=False)
    return buf.getvalue()


def to_npz_bytes(bank: KernelBank, compress: bool = True) -> bytes:
    """The .npz archive; ``compress=False`` stores the arrays as they are (the autosave: deflating a large bank of
    random values took 22 s of a loaded 2-core CPU for 7% less)."""
    # no NaN/Inf: load() refuses them (a bank that saved would not open again), as the JSON path does
    meta = json.dumps({"format": FORMAT, "version": VERSION, "name": bank.name, "meta": _plain(bank.meta)},
                      sort_keys=True, allow_nan=False).encode("utf-8")
    buf = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for key, arr in (("weights", bank.weights), ("frozen", bank.frozen),
                         ("meta", np.frombuffer(meta, dtype=np.uint8))):
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            info.external_attr = 0o644 << 16
            zf.writestr(info, _npy_bytes(arr))
    return buf.getvalue()


def to_bytes(bank: KernelBank, ext: str, compress: bool = True) -> bytes:
    if ext == ".json":
        return to_json_bytes(bank)
    if ext == ".npz":
        return to_npz_bytes(bank, compress)
    return _npy_bytes(bank.weights)


def save(bank: KernelBank, path: str | os.PathLike, compress: bool = True) -> Path:
    """Write ``bank`` to ``path`` (format by extension), atomically. Returns the path. ``compress=False``: a .npz
    stored uncompressed (fast: the autosave)."""
    path = Path(path)
    ext = _ext(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise KernelFileError(f"{path}: the folder {folder} does not exist")
    try:
        data = to_bytes(bank, ext, compress)
    except (ValueError, TypeError) as exc:  # a NaN (JSON has none) or an object JSON cannot hold in the metadata
        raise KernelFileError(f"{path.name}: the bank's metadata cannot be written as JSON ({exc})") from None
    if len(data) > MAX_FILE_BYTES:  # never write what load() refuses to read back
        better = " (as .npz it takes about 4 bytes per value)" if ext == ".json" else ""
        raise KernelFileError(f"{path.name}: {len(data) / 1e6:.0f} MB is over the {MAX_FILE_BYTES / 1e6:.0f} MB a "
                              f"bank file may have to be read back{better}; nothing was written")
    try:
        atomic_write(path, data)
    except KernelFileError:
        raise
    except OSError as exc:
        raise KernelFileError(f"{path}: cannot write ({exc.strerror or exc})") from exc
    return path


# --- reading ---------------------------------------------------------------------------------------------
def _bank(path: Path, weights: Any, frozen: Any, name: str, meta: dict) -> KernelBank:
    w = np.asarray(weights)
    if w.dtype.kind not in "fiu":
        raise KernelFileError(f"{path.name}: kernel values must be numbers (got dtype {w.dtype})")
    if w.ndim == 2:
        w = w[None, None]
    elif w.ndim == 3:
        w = w[:, None]
    if w.ndim != 4:
        raise KernelFileError(f"{path.name}: expected a 4-D array (out, in, k, k), got {w.ndim}-D {tuple(w.shape)}")
    if w.dtype.kind == "f":  # integers are finite; a float is checked in its own precision (no float64 copies:
        finite = np.isfinite(w)  # they took 4 of the 5 s that loading a 118 MB bank did)
        if not finite.all():
            raise KernelFileError(f"{path.name}: the kernels hold {int(w.size - np.count_nonzero(finite))} NaN/Inf "
                                  f"value(s)")
        if w.dtype.itemsize > 4 and np.abs(w).max(initial=0) > np.finfo(np.float32).max:
            raise KernelFileError(f"{path.name}: values too large for float32")
    try:
        return KernelBank(w.astype(np.float32), frozen, name, meta)
    except KernelBankError as exc:
        raise KernelFileError(f"{path.name}: {exc}") from None


def _read(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise KernelFileError(f"{path.name}: {size / 1e6:.0f} MB is too large for a kernel bank")
        return path.read_bytes()
    except FileNotFoundError:
        raise KernelFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise KernelFileError(f"{path}: is a folder, not a bank file") from None
    except OSError as exc:
        raise KernelFileError(f"{path}: cannot read ({exc.strerror or exc})") from None


def from_json_bytes(raw: bytes, path: Path) -> KernelBank:
    def bad_constant(c):
        raise KernelFileError(f"{path.name}: holds {c}: NaN/Inf values are not allowed")

    try:
        doc = json.loads(raw.decode("utf-8"), parse_constant=bad_constant)
    except RecursionError:
        raise KernelFileError(f"{path.name}: nested too deeply to be a kernel bank (a bank is 4 levels of "
                              f"lists)") from None
    except UnicodeDecodeError:
        raise KernelFileError(f"{path.name}: not a text file (is it really a JSON bank?)") from None
    except json.JSONDecodeError as exc:
        what = "truncated" if exc.pos >= len(raw.rstrip()) - 1 else "malformed"
        raise KernelFileError(f"{path.name}: {what} JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except ValueError as exc:  # an integer with more digits than Python converts
        raise KernelFileError(f"{path.name}: not a valid bank ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise KernelFileError(f"{path.name}: not a Filter Explorer bank (\"format\" should be {FORMAT!r})")
    version = doc.get("version")
    if type(version) is not int or version < 1:  # noqa: E721  (true is an int to isinstance)
        raise KernelFileError(f"{path.name}: missing or invalid \"version\"")
    if version > VERSION:
        raise KernelFileError(f"{path.name}: written by a newer Filter Explorer (format version {version}; "
                              f"this one reads up to {VERSION})")
    for key in ("shape", "kernels"):
        if key not in doc:
            raise KernelFileError(f"{path.name}: missing \"{key}\"")
    shape = doc["shape"]
    if not (isinstance(shape, list) and len(shape) == 4 and all(type(s) is int and s > 0 for s in shape)):  # noqa: E721
        raise KernelFileError(f"{path.name}: \"shape\" must be 4 positive integers [out, in, k, k], got {shape!r}")
    if any(s > limits.MAX_ARRAY_BYTES for s in shape):
        raise KernelFileError(f"{path.name}: \"shape\" {shape!r} is far too large for a kernel bank")
    try:
        w = np.array(doc["kernels"], dtype=np.float64)
    except OverflowError:
        raise KernelFileError(f"{path.name}: \"kernels\" holds a number too large for a float (an integer of "
                              f"hundreds of digits?)") from None
    except RecursionError:
        raise KernelFileError(f"{path.name}: \"kernels\" is nested too deeply (expected [out][in][k][k])") from None
    except (ValueError, TypeError):
        raise KernelFileError(f"{path.name}: \"kernels\" must be nested lists of numbers with the same length "
                              f"on each level (a ragged or non-numeric entry was found)") from None
    if tuple(w.shape) != tuple(shape):
        raise KernelFileError(f"{path.name}: \"kernels\" has shape {tuple(w.shape)} but \"shape\" says {tuple(shape)}")
    odd = {type(v).__name__ for v in np.array(doc["kernels"], dtype=object).ravel()} - {"int", "float"}
    if odd:  # numpy reads "1.5" and true as numbers
        raise KernelFileError(f"{path.name}: \"kernels\" must hold numbers only, found {', '.join(sorted(odd))} "
                              f"value(s)")
    frozen = doc.get("frozen", [False] * shape[0])
    if not (isinstance(frozen, list) and len(frozen) == shape[0] and all(isinstance(f, bool) for f in frozen)):
        raise KernelFileError(f"{path.name}: \"frozen\" must be {shape[0]} true/false values")
    meta = doc.get("meta", {})
    if not isinstance(meta, dict):
        raise KernelFileError(f"{path.name}: \"meta\" must be an object")
    name = doc.get("name") if isinstance(doc.get("name"), str) else path.stem
    if np.any(np.abs(w) > np.finfo(np.float32).max):
        raise KernelFileError(f"{path.name}: values too large for float32")
    return _bank(path, w.astype(np.float32), frozen, name, meta)


def _npy_header(raw: bytes, path: Path, what: str) -> None:
    """Check a .npy header's declared shape and dtype against ``limits.MAX_ARRAY_BYTES`` before anything is
    allocated (a 192-byte file may declare (10^9, 3, 3))."""
    f = io.BytesIO(raw)
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise KernelFileError(f"{path.name}: unsupported .npy format version {version}")
    except KernelFileError:
        raise
    except (ValueError, EOFError, OSError, SyntaxError, TypeError, RecursionError, tokenize.TokenError) as exc:
        raise KernelFileError(f"{path.name}: not a valid .npy array ({exc})") from None
    if dtype.hasobject:
        raise KernelFileError(f"{path.name}: holds Python objects (pickled), not numbers")
    try:
        limits.check_array(f"{path.name}{what}", shape, dtype.itemsize)
    except LimitError as exc:
        raise KernelFileError(str(exc)) from None
    declared, held = limits.declared_bytes(shape, dtype.itemsize), len(raw) - f.tell()
    if declared > held:  # also when the limits are off: never allocate what the file cannot fill
        raise KernelFileError(f"{path.name}{what}: truncated .npy: the header declares {declared:,} bytes of data, "
                              f"the file holds {held:,}")


def _load_npy(raw: bytes, path: Path, what: str = "") -> np.ndarray:
    _npy_header(raw, path, what)
    try:
        return np.load(io.BytesIO(raw), allow_pickle=False)
    except ValueError as exc:
        msg = str(exc)
        if "pickle" in msg.lower():
            raise KernelFileError(f"{path.name}: holds Python objects (pickled), not numbers") from None
        raise KernelFileError(f"{path.name}: not a valid .npy array ({msg})") from None
    except (EOFError, OSError) as exc:
        raise KernelFileError(f"{path.name}: truncated or corrupt .npy ({exc})") from None


def _member(zf: zipfile.ZipFile, name: str, path: Path) -> bytes:
    """A .npz member, refused from its declared size (the zip directory) before it is decompressed."""
    size = zf.getinfo(name).file_size
    if limits.enabled() and size > limits.MAX_ARRAY_BYTES:
        raise KernelFileError(f"{path.name}: the member {name!r} declares {size:,} bytes, over the limit of "
                              f"{limits.MAX_ARRAY_BYTES:,} bytes; nothing was read (set {limits.LIMITS_ENV}=off "
                              f"to lift the limit if you mean it)")
    data = zf.read(name)
    if len(data) != size:
        raise KernelFileError(f"{path.name}: the member {name!r} holds {len(data):,} bytes, not {size:,}")
    return data


def load(path: str | os.PathLike) -> KernelBank:
    """The bank in ``path`` (format by extension). A bank read from a file is one the user gives: an ``in_weights``
    flag in its meta (``IN_WEIGHTS``: a checkpoint's sidecar bank that was saved) is dropped, so ``--bank`` puts it
    into the layer after ``--weights`` load, not under them (``app.models.build.build``)."""
    bank = _load(Path(path))
    if IN_WEIGHTS in (bank.meta or {}):
        bank = KernelBank(bank.weights, bank.frozen, bank.name, {k: v for k, v in bank.meta.items() if k != IN_WEIGHTS})
    return bank


def _load(path: Path) -> KernelBank:
    ext = _ext(path)
    raw = _read(path)
    if not raw:
        raise KernelFileError(f"{path.name}: the file is empty")
    if ext == ".json":
        return from_json_bytes(raw, path)
    if ext == ".npy":
        return _bank(path, _load_npy(raw, path), None, path.stem, {"source": path.name})
    # .npz
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
        names = set(zf.namelist())
        if "weights.npy" not in names:
            raise KernelFileError(f"{path.name}: no \"weights\" array in the archive (found: "
                                  f"{', '.join(sorted(n.removesuffix('.npy') for n in names)) or 'nothing'})")
        arrays = {n.removesuffix(".npy"): _load_npy(_member(zf, n, path), path, f" ({n})")
                  for n in sorted(names) if n.endswith(".npy")}
    except zipfile.BadZipFile:
        raise KernelFileError(f"{path.name}: truncated or corrupt .npz (not a valid zip archive)") from None
    except (zipfile.LargeZipFile, EOFError, OSError, zlib.error, NotImplementedError) as exc:
        raise KernelFileError(f"{path.name}: corrupt .npz ({exc})") from None
    w = arrays["weights"]
    frozen = arrays.get("frozen")
    if frozen is not None:
        n_out = w.shape[0] if w.ndim in (3, 4) else 1  # weights of another rank: refused by _bank below
        if frozen.dtype != np.bool_ or frozen.shape != (n_out,):
            raise KernelFileError(f"{path.name}: \"frozen\" must be {n_out} booleans, got {frozen.dtype} "
                                  f"{tuple(frozen.shape)}")
    name, meta = path.stem, {}
    if "meta" in arrays:
        def bad_constant(c):
            raise KernelFileError(f"{path.name}: the \"meta\" entry holds {c}: NaN/Inf values are not allowed")

        try:
            doc = json.loads(arrays["meta"].astype(np.uint8).tobytes().decode("utf-8"), parse_constant=bad_constant)
            name = doc.get("name", name) if isinstance(doc.get("name"), str) else name
            meta = doc.get("meta", {}) if isinstance(doc.get("meta"), dict) else {}
            if isinstance(doc.get("version"), int) and doc["version"] > VERSION:
                raise KernelFileError(f"{path.name}: written by a newer Filter Explorer (format version "
                                      f"{doc['version']})")
        except (UnicodeDecodeError, ValueError, RecursionError, AttributeError):
            # ValueError: malformed JSON, or an integer with more digits than Python converts; RecursionError: nested
            # deeper than the parser goes
            raise KernelFileError(f"{path.name}: the \"meta\" entry is not valid JSON") from None
    return _bank(path, w, frozen, name, meta)


def _shown(v: Any) -> str:
    return ", ".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v) if isinstance(v, list) else str(v)


def describe(bank: KernelBank) -> str:
    """Text for ``kernels show``: shape, frozen count, stats."""
    s = bank.stats()
    f, t = bank.parameter_counts()
    lines = [
        f"name:    {bank.name}",
        f"shape:   {bank.out_channels} x {bank.in_channels} x {bank.size} x {bank.size} (out, in, k, k)",
        f"frozen:  {bank.frozen_count()} of {bank.out_channels} kernels ({f:,} frozen / {t:,} trainable parameters)",
        f"values:  min {s['min']:.6g}  max {s['max']:.6g}  mean {s['mean']:.6g}  std {s['std']:.6g}",
        f"norms:   mean L2 norm per kernel {s['mean_kernel_norm']:.6g}",
    ]
    if bank.meta:
        gen = bank.meta.get("generator")
        if gen:
            from app.kernels.generators import KINDS

            params = ", ".join(f"{k}={v}" for k, v in (bank.meta.get("params") or {}).items())
            # dct, gabor ... do not use the seed; a New bank ("empty") has none
            seeded = (gen not in KINDS or KINDS[gen].random) and bank.meta.get("seed") is not None
            post = [what for key, what in (("zero_mean", "zero mean"), ("unit_norm", "unit norm"))
                    if bank.meta.get(key)]
            lines.append(f"made by: {gen}" + (f" ({params})" if params else "")
                         + (f", seed {bank.meta.get('seed')}" if seeded else "") + "".join(f", {p}" for p in post))
            redrawn = bank.meta.get("redrawn")
            if isinstance(redrawn, int) and not isinstance(redrawn, bool) and redrawn > 0:
                lines.append(f"redrawn: {redrawn} kernel{'s' if redrawn > 1 else ''} whose weights came out all "
                             "equal (zero mean would leave them all zero)")
            used = bank.meta.get("used")
            if isinstance(used, dict) and used:
                lines.append("used:    " + "; ".join(f"{k} {_shown(v)}" for k, v in used.items()))
        if bank.meta.get("edited"):
            lines.append("edited:  by hand after generation")
    return "\n".join(lines)
