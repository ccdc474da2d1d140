"""The random twin of an opened model: the same architecture, re-initialised in place, seeded.

- ``init="default"``: eager modules call their own ``reset_parameters()`` (every layer that has one, running
  statistics included); TorchScript modules (which keep no Python init code) get He-normal convs (fan-in, ReLU gain,
  zero bias), PyTorch's default for linear layers (U(+-1/sqrt(fan_in))) and norms reset (weight 1, bias 0, running
  mean 0, variance 1).
- any other ``app.models.freeze.INITS`` name (``kaiming``, ``gaussian:0.1``, ``orthogonal`` ...): applied to every conv
  and linear layer by ``apply_init`` after the default reset.

Parameters of layers that are none of these (e.g. a PReLU slope, a layer scale) keep their values; ``reinit``
returns their names so the caller can say so.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from app.models.external.backbone import is_script


def _kind(m: nn.Module) -> str:
    name = getattr(m, "original_name", "") if is_script(m) else type(m).__name__
    if "Conv" in name:
        return "conv"
    if name == "Linear":
        return "linear"
    if "Norm" in name:
        return "norm"
    return ""


def _proxy(m: nn.Module, kind: str) -> nn.Module:
    """An nn.Conv2d / nn.Linear sharing ``m``'s parameter tensors (so ``apply_init`` writes into ``m``)."""
    p = nn.Linear(1, 1) if kind == "linear" else nn.Conv2d(1, 1, 1)
    p.weight = m.weight if isinstance(m.weight, nn.Parameter) else nn.Parameter(m.weight, requires_grad=False)
    b = getattr(m, "bias", None)
    p.bias = None if b is None else (b if isinstance(b, nn.Parameter) else nn.Parameter(b, requires_grad=False))
    return p


def reinit(net: nn.Module, init: str = "default", seed: int = 0) -> list[str]:
    """Re-initialise ``net`` in place (see the module docstring); returns the parameters left as they were."""
    from app.models.freeze import apply_init

    g = torch.Generator().manual_seed(int(seed))
    touched: set[int] = set()
    proxies = nn.ModuleList()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        for _, m in net.named_modules():
            kind = _kind(m)
            w = getattr(m, "weight", None)
            if not is_script(m) and callable(getattr(m, "reset_parameters", None)):
                m.reset_parameters()
                touched.update(p.data_ptr() for p in m.parameters(recurse=False))
            elif kind in ("conv", "linear") and isinstance(w, torch.Tensor):
                fan_in = max(1, w[0].numel())
                if kind == "conv":
                    w.copy_(torch.randn(w.shape, generator=g) * math.sqrt(2.0 / fan_in))
                    if getattr(m, "bias", None) is not None:
                        m.bias.zero_()
                else:
                    bound = 1.0 / math.sqrt(fan_in)
                    w.copy_((torch.rand(w.shape, generator=g) * 2 - 1) * bound)
                    if getattr(m, "bias", None) is not None:
                        m.bias.copy_((torch.rand(m.bias.shape, generator=g) * 2 - 1) * bound)
                touched.update(p.data_ptr() for p in (w, getattr(m, "bias", None)) if p is not None)
            elif kind == "norm":
                for attr, value in (("weight", 1.0), ("bias", 0.0), ("running_mean", 0.0), ("running_var", 1.0),
                                    ("num_batches_tracked", 0)):
                    t = getattr(m, attr, None)
                    if isinstance(t, torch.Tensor):
                        t.fill_(value)
                        touched.add(t.data_ptr())
            if kind in ("conv", "linear") and isinstance(getattr(m, "weight", None), torch.Tensor):
                proxies.append(_proxy(m, kind))
        name = (init or "default").partition(":")[0].strip().lower()
        if name not in ("default", "", "checkpoint"):
            apply_init(proxies, init, g)
    # compared by storage: a TorchScript module hands out new tensor objects for the same parameter
    return [n for n, p in net.named_parameters() if p.data_ptr() not in touched]
