"""What ``app.kernels.generators.generate`` does to a family's kernels after drawing them: zero mean and unit norm
(``postprocess``), the checks that a fixed family gives distinct kernels that are not zero, before and after them
(``check_distinct``, ``check_post``), and the redraw of a random kernel that zero mean would leave all zero
(``redraw_flat``). Split out of the generators (its registry of kinds and their samplers)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from app.kernels.bank import KernelBankError


def postprocess(w: np.ndarray, zero_mean: bool = False, unit_norm: bool = False) -> np.ndarray:
    """Per kernel: subtract the mean (over all its weights, every channel together: no response to a flat grey
    image; a flat colour still gets one unless each channel sums to 0), then scale to L2 norm 1 (all-zero kernels
    stay 0)."""
    w = np.asarray(w, dtype=np.float64)
    flat = w.reshape(w.shape[0], -1)
    if zero_mean:
        flat = flat - flat.mean(1, keepdims=True)
    if unit_norm:
        norms = np.sqrt((flat ** 2).sum(1, keepdims=True))
        flat = np.where(norms > 1e-12, flat / np.where(norms > 1e-12, norms, 1.0), flat)
    return flat.reshape(w.shape)


def check_distinct(spec, w: np.ndarray) -> None:
    """A family that is not random must not give all-zero or repeated kernels (a size too small for it)."""
    flat = np.round(w.reshape(w.shape[0], -1), 9)
    zero = np.flatnonzero(~flat.any(1))
    if zero.size:
        raise KernelBankError(f"{spec.name}: kernel {int(zero[0])} is all zero at size {w.shape[-1]}; use a larger "
                              f"size or a smaller count")
    _, first, counts = np.unique(flat, axis=0, return_index=True, return_counts=True)
    if (counts > 1).any():
        raise KernelBankError(f"{spec.name}: only {first.size} of the {w.shape[0]} kernels differ at size "
                              f"{w.shape[-1]}; use a larger size or a smaller count")


def check_post(spec, w: np.ndarray, post: np.ndarray, zero_mean: bool, unit_norm: bool) -> None:
    """A family that is not random, after zero mean / unit norm: refused (as ``check_distinct`` refuses the family
    itself) when zero mean leaves a kernel all zero (its DC or blur kernel: every weight equal; unit norm cannot
    rescale 0) or when the post-processing makes two kernels the same."""
    flat = np.round(post.reshape(post.shape[0], -1), 9)
    zero = np.flatnonzero(~flat.any(1))
    if zero.size:  # the family's kernels are not zero (``check_distinct``): zero mean removed it
        i = int(zero[0])
        if spec.name == "classic":
            from app.kernels.structured import CLASSIC

            what = f"{list(CLASSIC)[i]} kernel (kernel {i}, every weight equal)"
        else:
            what = f"DC (flat) kernel (kernel {i}, every weight equal)" if i == 0 else \
                f"kernel {i} (every weight equal)"
        fewer = ("ask for 1 kernel" if i == 1 else f"ask for at most {i} kernels") + ", or " if i > 0 else ""
        raise KernelBankError(f"zero mean removes the {what} of {spec.name}: it would be all zero"
                              + (", which unit norm cannot rescale" if unit_norm else "")
                              + f"; {fewer}untick zero mean")
    _, first, counts = np.unique(flat, axis=0, return_index=True, return_counts=True)
    if (counts > 1).any():
        post_names = " and ".join(n for n, on in (("zero mean", zero_mean), ("unit norm", unit_norm)) if on)
        raise KernelBankError(f"{spec.name}: after {post_names} only {first.size} of the {w.shape[0]} kernels differ "
                              f"at size {w.shape[-1]}; use another size or a smaller count, or untick {post_names}")


def flat_rows(w: np.ndarray) -> np.ndarray:
    """Which kernels have every weight equal and not all zero: zero mean leaves them all zero."""
    flat = w.reshape(w.shape[0], -1)
    return (np.ptp(flat, axis=1) <= 1e-12 * np.abs(flat).max(axis=1)) & np.abs(flat).any(axis=1)


def redraw_flat(spec, draw: Callable[[int], np.ndarray], w: np.ndarray, tries: int) -> tuple[np.ndarray, int]:
    """A random kind with zero mean: a kernel whose weights came out all equal (a Rademacher 3x3 kernel of nine +1s,
    2 in 512; one weight per kernel at 1x1 and one channel) would be stored all zero, a dead filter in a bank that
    says it holds ``count`` random ones. Such kernels are drawn again (``draw(m)``: m more kernels from the same
    generator, so the bank is random kernels conditioned on not being flat), at most ``tries`` times; returns the
    kernels and how many were drawn again (recorded in the meta as ``redrawn``). Kernels of one weight, or a family
    that keeps giving flat ones, are refused."""
    n, c, k = w.shape[0], w.shape[1], w.shape[-1]
    if c * k * k == 1:
        raise KernelBankError(f"zero mean leaves a {k}x{k} kernel of {c} channel all zero (its one weight is its "
                              f"mean); use a larger size or more in-channels, or untick zero mean")
    w = w.copy()
    redrawn = 0
    for _ in range(tries):
        flat = np.flatnonzero(flat_rows(w))
        if not flat.size:
            return w, redrawn
        w[flat] = draw(flat.size)
        redrawn += int(flat.size)
    raise KernelBankError(f"{spec.name}: zero mean leaves {int(flat_rows(w).sum())} of the {n} kernels all zero "
                          f"(every weight equal) after {tries} draws; use a larger size, or untick zero mean")
