"""LC-block fold view: an LC convolution (frozen random k x k filters B, c_out x E of them, then a learned 1x1
combination A back to c_out) is one k x k convolution with the effective filters

    W_eff[o, i] = sum_e A[o, e] * B[e, i]        (A: (c_out, c_out*E), B: (c_out*E, c_in, k, k))

so the learned mixing can be shown as ordinary spatial filters beside the basis it combines: frozen random by
default, learned too where the model was built with ``learn_spatial=true`` (``Folded.learned_basis``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Folded:
    name: str
    effective: np.ndarray  # (c_out, c_in, k, k)
    basis: np.ndarray  # (c_out * E, c_in, k, k): the k x k filters (frozen random unless ``learned_basis``)
    mixing: np.ndarray  # (c_out, c_out * E)
    stride: int
    padding: int
    learned_basis: bool = False  # the basis is trained with the model (its weight's requires_grad)


def fold(conv_weight: np.ndarray, lc_weight: np.ndarray) -> np.ndarray:
    B = np.asarray(conv_weight, dtype=np.float64)
    A = np.asarray(lc_weight, dtype=np.float64).reshape(lc_weight.shape[0], -1)
    if A.shape[1] != B.shape[0]:
        raise ValueError(f"the 1x1 mixing has {A.shape[1]} inputs but the basis has {B.shape[0]} filters")
    return np.einsum("oe,eikl->oikl", A, B).astype(np.float32)


def lc_layers(model) -> list[Folded]:
    """Every LC convolution of a model (modules with a ``conv`` k x k and an ``lc`` 1x1 child), folded."""
    out = []
    for name, m in model.named_modules():
        conv, lc = getattr(m, "conv", None), getattr(m, "lc", None)
        if conv is None or lc is None or not hasattr(conv, "weight") or not hasattr(lc, "weight"):
            continue
        B = conv.weight.detach().float().cpu().numpy()
        A = lc.weight.detach().float().cpu().numpy()
        out.append(Folded(name, fold(B, A), B, A.reshape(A.shape[0], -1), int(conv.stride[0]), int(conv.padding[0]),
                          bool(conv.weight.requires_grad)))
    return out
