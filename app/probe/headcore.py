"""What every head shares: the result record, the stopping report, standardisation with training statistics.

``HeadResult.stop`` says how the head's training ended, in one shape for every head::

    {"criterion": str, "value": float | None, "tolerance": float | None, "iterations": int, "converged": bool}

(logistic: max |gradient|; svm: gradient norm relative to the gradient at zero weights; ridge: "closed form";
knn: "none"). ``HeadResult.state`` holds the fitted weights in standardised coordinates (``{"W": (C, d), "b": (C,)}``
float32 numpy arrays) so that another fit of the same head can start from them (``init=``, warm starts).
``HeadResult.extra`` holds head-specific measurements (kNN: retrieval precision@k and mAP).

``RowSlices``: a full-batch evaluation over the training rows (loss and gradient: sums over rows) as consecutive
row slices computed at once on single-threaded workers and added in a fixed order (issue 14: load-robust).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from app.probe.config import CurvePoint
from app.threads import one_thread, slice_pool, summed, workers

ROW_CHUNK = 4096
STATS_CHUNK = 256  # rows per float64 chunk of the standardisation statistics (a 4 MB buffer at 2048 features)


@dataclass(frozen=True)
class HeadResult:
    scores: np.ndarray  # (n_test, C) float32
    curves: tuple[CurvePoint, ...]
    seconds: float
    settings: dict
    stop: dict = field(default_factory=dict)
    state: dict | None = None
    extra: dict = field(default_factory=dict)


def stop_report(criterion: str, value: float | None, tolerance: float | None, iterations: int,
                converged: bool) -> dict:
    return {"criterion": criterion, "value": None if value is None else float(value),
            "tolerance": None if tolerance is None else float(tolerance), "iterations": int(iterations),
            "converged": bool(converged)}


class RowStack:
    """The rows of several 2-D feature arrays (in memory or memory-mapped), one array after another, without a copy
    of them all: what the heads read of a feature array (``len``, ``shape``, ``dtype``, row slices ``X[i:j]``,
    ``np.asarray``), so that a refit on training + validation features does not hold a third, concatenated copy
    (45,000 + 5,000 x 57,600 float16 features: 5.8 GB)."""

    ndim = 2

    def __init__(self, *parts):
        if not parts or any(np.ndim(p) != 2 for p in parts) or len({p.shape[1] for p in parts}) != 1:
            raise ValueError("RowStack: 2-D arrays with the same number of columns")
        self.parts = parts
        self.dtype = np.result_type(*(p.dtype for p in parts))
        self.shape = (sum(len(p) for p in parts), int(parts[0].shape[1]))

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key) -> np.ndarray:
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("RowStack: rows by a slice with step 1 (X[i:j])")
        start, stop, _ = key.indices(len(self))
        pieces, offset = [], 0
        for p in self.parts:
            lo, hi = max(start - offset, 0), min(stop - offset, len(p))
            if lo < hi:
                pieces.append(np.asarray(p[lo:hi], dtype=self.dtype))
            offset += len(p)
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces or [np.empty((0, self.shape[1]), self.dtype)])

    def __array__(self, dtype=None, copy=None):
        out = self[0:len(self)]
        return out if dtype is None else out.astype(dtype, copy=False)


def _chunk_on(X: np.ndarray, i: int, device) -> torch.Tensor:
    """Rows ``i .. i + ROW_CHUNK`` of ``X`` on ``device`` in X's own dtype (a float16 cache crosses at half the bytes
    and is converted there)."""
    c = np.ascontiguousarray(X[i:i + ROW_CHUNK])
    return torch.from_numpy(c if c.flags.writeable else c.copy()).to(device)  # pragma: no mutate


def _on_gpu(device) -> bool:
    return device is not None and torch.device(device).type != "cpu"


def standardizer(X: np.ndarray, standardize: bool, device=None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and 1/std of the columns (float64 accumulation, row chunks; bounded memory). ``device`` other than the
    CPU: the sums are taken there, on chunks sent in the features' own dtype (one pass over 45,000 x 36,864 float16
    features on the host's numpy took seconds a candidate of a GPU run's sweep; issue 14); the same float64 sums."""
    d = X.shape[1]
    if not standardize:
        return np.zeros(d, np.float32), np.ones(d, np.float32)
    if _on_gpu(device):
        st = torch.zeros(d, dtype=torch.float64, device=device)  # pragma: no mutate
        sst = torch.zeros(d, dtype=torch.float64, device=device)  # pragma: no mutate
        for i in range(0, len(X), ROW_CHUNK):
            c = _chunk_on(X, i, device).double()
            st += c.sum(0)
            sst += c.square_().sum(0)
        return _mean_inv(st.cpu().numpy(), sst.cpu().numpy(), len(X))
    s = np.zeros(d, np.float64)
    ss = np.zeros(d, np.float64)
    # one small float64 buffer for every chunk: a fresh 4096-row float64 copy (and its square) per chunk cost up to
    # 0.3 s of page faults on 5000 x 2048 features, against 0.03 s like this (issue 14)
    buf = np.empty((min(STATS_CHUNK, len(X)), d), np.float64)
    for i in range(0, len(X), STATS_CHUNK):
        c = buf[:len(X[i:i + STATS_CHUNK])]
        np.copyto(c, X[i:i + STATS_CHUNK])
        s += c.sum(0)
        np.multiply(c, c, out=c)
        ss += c.sum(0)
    return _mean_inv(s, ss, len(X))


def _mean_inv(s: np.ndarray, ss: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, 1/std) as float32 from the float64 column sums and sums of squares of ``rows`` rows."""
    n = max(1, rows)
    mean = s / n
    var = np.maximum(ss / n - mean * mean, 0.0)
    inv = 1.0 / np.sqrt(var + 1e-6 * (var.mean() if var.mean() > 0 else 1.0) + 1e-12)
    return mean.astype(np.float32), inv.astype(np.float32)


def to_device(X: np.ndarray, mean: np.ndarray, inv: np.ndarray, device) -> torch.Tensor:
    """Standardised float32 tensor on ``device`` (converted in row chunks)."""
    out = torch.empty((len(X), X.shape[1]), dtype=torch.float32, device=device)  # pragma: no mutate
    m = torch.from_numpy(mean).to(device)  # pragma: no mutate
    s = torch.from_numpy(inv).to(device)  # pragma: no mutate
    for i in range(0, len(X), ROW_CHUNK):
        # each chunk as stored (a float16 cache crosses to a GPU at half the bytes), converted exactly by torch where
        # it lands (no copy where X is float32 in memory already; on the CPU torch's float16 conversion took 0.15 s
        # for 4,096 x 36,864 features where numpy's took 0.25 s)
        c = _chunk_on(X, i, device).float()
        torch.sub(c, m, out=out[i:i + len(c)])
        out[i:i + len(c)] *= s
    return out


def class_scores(A: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``A W^T + b`` (n, C) for a head's few classes. On the CPU with one torch thread (the logistic head's row
    slices, ``RowSlices``) as the transposed view of ``W A^T + b`` (C, n): MKL computes that product ~1.6x faster
    than ``F.linear``'s (5000 x 2048 MNIST features, 10 classes: 5.9 vs 9.6 ms; 4096 x 18432: 48 vs 81 ms; a
    logistic evaluation 18.0 -> 14.3 ms), the same sums to float32 rounding (issue 14). With a team of threads it
    does not split that product (2 threads: 47 ms against ``F.linear``'s 41 ms), nor is it faster on a GPU: there
    ``F.linear``."""
    if A.device.type == "cpu" and torch.get_num_threads() == 1:
        return torch.addmm(b[:, None], W, A.T).T
    return F.linear(A, W, b)


def accuracy(scores: torch.Tensor, y: torch.Tensor) -> float:
    return float((scores.argmax(1) == y).float().mean()) if len(y) else float("nan")


@dataclass(frozen=True, eq=False)
class Prepared:
    """A head's inputs, made once: training features ``A`` and evaluation features ``B`` standardised with the
    training statistics (``mean``, ``inv``: what ``standardizer`` gives) on the device, the training labels ``y``.
    A sweep over one hyperparameter (``app.probe.selection``) hands the same one to every candidate's fit: each fit
    made its own before, five passes over the features where one does (issue 14: most of the head's time of the
    random-cifar10 preset on an H200)."""
    A: torch.Tensor
    B: torch.Tensor
    y: torch.Tensor
    mean: np.ndarray
    inv: np.ndarray
    standardize: bool

    def tensors(self, opts: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(A, B, y) for a fit with ``opts``; refused where ``opts`` standardise otherwise than these were made."""
        if bool(opts.get("standardize", True)) != self.standardize:
            raise ValueError(f"prepared features were made with standardize={self.standardize}, the fit asks for "
                             f"standardize={bool(opts.get('standardize', True))}")
        return self.A, self.B, self.y


def prepare_once(Xtr, ytr, Xte, opts, device) -> Prepared:
    """``Prepared`` features for fits with ``opts`` (their ``standardize``) on ``device``."""
    standardize = bool(opts.get("standardize", True))
    mean, inv = standardizer(Xtr, standardize, device)
    A = to_device(Xtr, mean, inv, device)  # pragma: no mutate
    B = to_device(Xte, mean, inv, device)  # pragma: no mutate
    y = torch.from_numpy(np.asarray(ytr, dtype=np.int64)).to(device)
    return Prepared(A, B, y, mean, inv, standardize)


def prepare(Xtr, ytr, Xte, opts, device, prepared: Prepared | None = None):
    """Training and test features standardised with the TRAINING statistics, on ``device``; labels as int64
    (``prepared``: those made already, for these features)."""
    return (prepared if prepared is not None else prepare_once(Xtr, ytr, Xte, opts, device)).tensors(opts)


def initial_weights(init: dict | None, n_classes: int, d: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(W (C, d), b (C,)) float32 from a previous fit's ``state`` (warm start), or zeros."""
    if init is None:
        return torch.zeros(n_classes, d, device=device), torch.zeros(n_classes, device=device)  # pragma: no mutate
    W = np.asarray(init["W"], dtype=np.float32)
    b = np.asarray(init["b"], dtype=np.float32)
    if W.shape != (n_classes, d) or b.shape != (n_classes,):
        raise ValueError(f"warm start: weights of shape {W.shape}/{b.shape} do not fit {n_classes} classes x {d} "
                         "features")
    return torch.from_numpy(W.copy()).to(device), torch.from_numpy(b.copy()).to(device)  # pragma: no mutate


def state_of(W: torch.Tensor, b: torch.Tensor) -> dict:
    return {"W": W.detach().float().cpu().numpy().copy(), "b": b.detach().float().cpu().numpy().copy()}


def row_bounds(n: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` consecutive (start, stop) row ranges covering 0..n, sizes differing by at most one (the larger
    first, as ``torch.tensor_split``); fewer where n < parts, one (0, 0) where n = 0."""
    parts = max(1, min(int(parts), n))
    q, r = divmod(n, parts)
    bounds, start = [], 0
    for i in range(parts):
        stop = start + q + (1 if i < r else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


ROW_SLICES = 16  # the row slices of every CPU sum of a full-batch head fit, whatever the machine's thread count


class RowSlices:
    """Sums over the rows of a full-batch evaluation, as ``slices`` consecutive row slices (``ROW_SLICES`` by
    default) computed on a pool of at most ``workers`` single-threaded workers (``app.threads.slice_pool``), as many
    at once as the calling thread's torch count of the moment (a ``ThreadTuner``'s choice), added in slice order
    (``app.threads.summed``): the same sums, bit for bit, whatever that count and whatever ``workers``. Why slices: a
    torch team ends every operation at a barrier, and under load one team thread is descheduled at most barriers;
    measured on the 5000 x 2048 ``bench head`` features at load ~2 (2026-11-30): one softmax loss/gradient evaluation
    took 18 ms with one thread, 124 ms with a team of two, 20 ms as two slices. Why a fixed count of slices (not one
    per thread, as until 2026-12-03): float sums in another order are other numbers, and a fit stopped by a tolerance
    then stops at another iteration; a near-tie on validation can turn, and with it the reported test figure. Measured
    (ablation-mnist's stem-maps cell, seed 1, features from one cache): ``--threads 1`` 98.70% test (weight decay
    1e-5 selected, its fit 30 iterations), ``--threads 2`` 98.35% (1e-3; the 1e-5 fit stopped after 28). Now the same
    run gives the same model on one thread, two or sixteen.

    ``slices`` <= 1 or a device other than the CPU: ``fn(0, n)`` in the caller (a GPU runs one kernel over all rows).
    Use as a context manager (the pool is shut down on leaving)::

        with RowSlices(tuner.max, A.device, "head") as rs:
            with rs.evaluation():                    # the work around the sums with one torch thread
                loss, gW, gb = rs.sum(part, n)       # part(start, stop) -> (loss, gW, gb) of those rows
    """

    def __init__(self, workers: int, device, name: str = "head", slices: int = ROW_SLICES) -> None:
        on_cpu = torch.device(device).type == "cpu"
        self.parts = max(1, int(slices)) if on_cpu else 1
        self.pool = slice_pool(min(max(1, int(workers)), self.parts), name) if on_cpu else None

    @property
    def sliced(self) -> bool:
        return self.parts > 1

    @contextmanager
    def evaluation(self) -> Iterator[None]:
        """The calling thread runs torch with one thread for the block (the small operations between the sums),
        the sums inside use as many workers as its count outside it (``app.threads.workers``, which a thread tuner
        may change inside). A no-op where nothing is sliced."""
        if not self.sliced:
            yield
            return
        with one_thread():
            yield

    def sum(self, fn: Callable[[int, int], tuple], n: int, parts: int | None = None) -> tuple:
        """``fn(start, stop)`` summed term by term over the slices of rows 0..n (at most ``parts`` slices: large
        partial sums)."""
        k = self.parts if parts is None else max(1, min(int(parts), self.parts))
        if not self.sliced or k <= 1:
            return tuple(fn(0, n))
        # (no pool: one thread configured; the same slices, one after another in this thread)
        return summed(lambda rows: fn(*rows), row_bounds(n, k), workers(), self.pool)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None

    def __enter__(self) -> "RowSlices":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


BLOCK_ABOVE = 64 << 20  # a row slice of more bytes than this is summed in blocks of ``BLOCK_BYTES``
BLOCK_BYTES = 16 << 20


def in_blocks(part: Callable[[int, int], tuple], A: torch.Tensor) -> Callable[[int, int], tuple]:
    """``part(start, stop)`` -> a tuple of sums over those rows of ``A``, made to compute a range of more than
    ``BLOCK_ABOVE`` bytes in consecutive blocks of ``BLOCK_BYTES``, added term by term in order. A head's evaluation
    reads each row twice (its scores, then its share of the gradient); in a block the second read finds the rows
    still in the cache: one logistic evaluation on this 2-core CPU, 2 workers, 20,000 x 18,432 features 361 -> 249
    ms, 12,000 x 36,864 440 -> 299 ms (2026-12-04). The block size depends on the feature count alone: the same sums
    whatever the thread count; smaller ranges (5,000 x 2,048 in 16 slices) are one piece, their bits as before. Not
    on an accelerator (one kernel over all rows)."""
    row = A.shape[1] * A.element_size() if A.dim() == 2 else 0
    if A.device.type != "cpu" or row == 0:
        return part
    step = max(1, BLOCK_BYTES // row)

    def blocked(start: int, stop: int) -> tuple:
        if (stop - start) * row <= BLOCK_ABOVE:
            return part(start, stop)
        acc = list(part(start, min(stop, start + step)))  # new tensors: added to in place
        for s in range(start + step, stop, step):
            for k, v in enumerate(part(s, min(stop, s + step))):
                acc[k] = acc[k].add_(v) if isinstance(acc[k], torch.Tensor) else acc[k] + v
        return tuple(acc)

    return blocked


def softmax_objective(A: torch.Tensor, y: torch.Tensor, W: torch.Tensor, b: torch.Tensor, wd: float,
                      slices: RowSlices | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, dW, db) of mean cross-entropy + wd/2 ||W||^2 over the rows of A (labels y; W (C, d), b (C,)); the sums
    over rows computed by ``slices`` (``RowSlices``: consecutive row slices on single-threaded workers, added in
    order), else in one piece, each large slice in cache-sized blocks (``in_blocks``). Gradients by hand: autograd's
    A.T @ G is several times slower on CPU than (G.T @ A).T; the scores as (classes, rows) (``class_scores``)."""
    n = len(A)

    def part(start: int, stop: int):
        As, ys = A[start:stop], y[start:stop]
        zT = class_scores(As, W, b).T  # (C, rows): the classes' scores, each class a contiguous row
        rows = torch.arange(stop - start, device=A.device)
        loss = (torch.logsumexp(zT, 0) - zT[ys, rows]).sum()
        PT = torch.softmax(zT, 0)
        PT[ys, rows] -= 1.0
        PT /= n
        return loss, PT @ As, PT.sum(1)

    part = in_blocks(part, A)
    loss, gW, gb = slices.sum(part, n) if slices is not None else part(0, n)
    return loss / n + 0.5 * wd * (W * W).sum(), gW + wd * W, gb
