"""Measuring which input pixels can change given units of a layer (the boxes that ``app.analysis.receptive_field``
builds a receptive field from): per map position, the bounding box of the union, over a few random inputs, of its
gradient's support (step functions and max-pooling made to pass gradients on: ``_through_mode``), with a perturbation
fallback for units that have no gradient (``_boxes``). Runs on a probe copy of the model (``_Probe``). Qt-free."""

from __future__ import annotations

import numpy as np

N_INPUTS = 8  # random inputs whose gradient supports are united (ReLUs dead at one input are alive at another)
ROUNDS = (2, 2, 4)  # ... drawn at once, used in rounds of these sizes (see _grad_boxes); they sum to N_INPUTS
SEED = 0
PERTURB_INPUTS = 4  # base images of the perturbation fallback (layers with no gradient: comparisons, non-torch code)
BUDGET = 512 * 2**20  # bytes of activations one measuring pass may hold (rough estimate; at least one position)
_STEPS = frozenset({"sign", "sgn", "round", "floor", "ceil", "trunc", "fix", "heaviside"})
_POOL_ARGS = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")


def _through_mode():
    """A torch function mode under which gradients pass where a unit's value depends on an input but its gradient is
    zero or picks one element: step functions (sign, round, ...) pass the gradient on as the identity would, and
    max-pooling to every element of its window as average pooling would (straight-through: the values are
    unchanged). ReLUs are left as they are (the union over random inputs covers them)."""
    import torch
    import torch.nn.functional as F

    class Through(torch.overrides.TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            name = getattr(func, "__name__", "")
            x = args[0] if args else kwargs.get("input")
            if not isinstance(x, torch.Tensor) or not x.requires_grad or not torch.is_grad_enabled():
                return out
            if name in _STEPS and isinstance(out, torch.Tensor) and out.shape == x.shape \
                    and out.is_floating_point() and "out" not in kwargs:
                return out.detach() + (x - x.detach())
            if name == "max_pool2d" and isinstance(out, torch.Tensor):
                a = dict(zip(_POOL_ARGS, args))
                a.update(kwargs)
                dil = a.get("dilation", 1)
                if a.get("return_indices") or any(int(d) != 1 for d in (dil if isinstance(dil, (tuple, list))
                                                                          else (dil,))):
                    return out
                try:
                    avg = F.avg_pool2d(x, a["kernel_size"], a.get("stride") or None, a.get("padding", 0),
                                       bool(a.get("ceil_mode", False)), True)
                except (RuntimeError, ValueError, TypeError):
                    return out
                if avg.shape == out.shape:
                    return out.detach() + (avg - avg.detach())
            return out

    return Through()


class _Probe:
    """What the measurements of ``layer`` run on: a copy of the model (the caller's model is neither changed nor given
    gradients), in eval mode (BatchNorm with its running statistics: no unit depends on the rest of the batch), in
    float64 where the model runs in it (exact zeros on the CPU: no Winograd or FFT convolution), else float32; the
    model itself, switched to eval for the while (``close`` restores it), where it cannot be copied."""

    def __init__(self, model, layer: int, channels: int, hw: tuple[int, int], device) -> None:
        import copy

        import torch

        self.layer, self.channels, self.hw = int(layer), int(channels), (int(hw[0]), int(hw[1]))
        self.device = torch.device(device)
        self.flags = None
        try:
            net = copy.deepcopy(model)
        except Exception:  # noqa: BLE001 - a module that cannot be copied (some compiled or external ones)
            net = None
        if net is None:
            self.flags = [(m, m.training) for m in model.modules()]
            model.eval()
            self.net = model
            self.dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
            self.shape = self._shape()
            return
        net.eval()
        for p in net.parameters():
            p.requires_grad_(False)
        dtypes = (torch.float64, torch.float32) if self.device.type != "mps" else (torch.float32,)
        for dtype in dtypes:
            try:
                self.net, self.dtype = net.to(self.device, dtype), dtype
                self.shape = self._shape()
                return
            except Exception:  # noqa: BLE001 - a model that does not run in float64 runs in float32
                if dtype == dtypes[-1]:
                    raise

    def close(self) -> None:
        for m, training in self.flags or ():
            m.train(training)
        self.flags = None

    def randn(self, n: int, seed: int):
        import torch

        g = torch.Generator().manual_seed(seed)
        return torch.randn(n, self.channels, *self.hw, generator=g, dtype=torch.float64).to(self.device, self.dtype)

    def forward(self, x):
        return self.net.forward_intermediates(x, [self.layer])[0]

    def _shape(self) -> tuple:
        import torch

        with torch.inference_mode(False), torch.no_grad():
            return tuple(self.forward(self.randn(1, SEED)).shape[1:])


def _chunk(probe: _Probe, per_position: int, copies: float = 3.0) -> int:
    """Positions per pass: the batch's activations (a rough estimate) within ``BUDGET``."""
    c, h, w = probe.shape if len(probe.shape) == 3 else (1, 1, 1)
    item = 8 if probe.dtype.itemsize == 8 else 4
    per_image = max(probe.channels * probe.hw[0] * probe.hw[1], c * h * w) * item * copies * (probe.layer + 2)
    return max(1, int(BUDGET // max(1.0, per_image * per_position)))


def _bbox(mask) -> tuple[int, int, int, int] | None:
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return None
    return int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1


def _grad_boxes(probe: _Probe, positions: list[tuple[int, int]]) -> list:
    """Per position (y, x): the bounding box of the union, over up to ``N_INPUTS`` standard-normal inputs, of the
    pixels where the gradient of the unit (its channels weighted by fixed random positive numbers) is not zero; None
    where it is zero everywhere (or the model gives no gradient). The inputs come in ``ROUNDS``; after the first two
    a round that widens no box ends the measurement."""
    import torch

    base = probe.randn(N_INPUTS, SEED)
    g = torch.Generator().manual_seed(SEED + 1)
    weights = (0.5 + torch.rand(probe.shape[0], generator=g, dtype=torch.float64)).to(probe.device, probe.dtype)
    union = np.zeros((len(positions), *probe.hw), bool)
    boxes: list = [None] * len(positions)
    done = 0
    for r, n in enumerate(ROUNDS):
        imgs = base[done:done + n]
        done += n
        step = _chunk(probe, n)
        for s in range(0, len(positions), step):
            pos = positions[s:s + step]
            x = imgs.repeat(len(pos), 1, 1, 1).requires_grad_(True)
            try:
                with torch.inference_mode(False), torch.enable_grad(), _through_mode():
                    m = probe.forward(x)
                    units = torch.stack([m[j * n:(j + 1) * n, :, y, xx] for j, (y, xx) in enumerate(pos)])
                    grad = torch.autograd.grad((units * weights).sum(), x, allow_unused=True)[0]
            except RuntimeError:  # no graph (the model's own no_grad, code outside torch): no gradient
                grad = None
            if grad is not None:
                union[s:s + len(pos)] |= (grad.detach() != 0).reshape(len(pos), n, -1, *probe.hw).any(2).any(1) \
                    .cpu().numpy()
        now = [_bbox(u) for u in union]
        if r >= 1 and now == boxes:
            break
        boxes = now
    return boxes


def _perturb_boxes(probe: _Probe, positions: list[tuple[int, int]]) -> list:
    """The fallback where a unit has no gradient: per position, the input rows and columns whose redrawing (with
    fresh standard-normal values, one row or one column at a time, on ``PERTURB_INPUTS`` base images) changes the
    unit; None where none does."""
    import torch

    H, W = probe.hw
    rows = np.zeros((len(positions), H), bool)
    cols = np.zeros((len(positions), W), bool)
    ys = torch.tensor([p[0] for p in positions])
    xs = torch.tensor([p[1] for p in positions])
    step = max(1, _chunk(probe, 1, copies=1.0))
    with torch.inference_mode(False), torch.no_grad():
        for b in range(PERTURB_INPUTS):
            x0 = probe.randn(1, SEED + 10 + 2 * b)
            fresh = probe.randn(1, SEED + 11 + 2 * b)
            ref = probe.forward(x0)[0][:, ys, xs]  # (C, P)
            tol = 1e-9 * ref.abs().amax(0).clamp_min(1.0)
            for axis, n, acc in ((2, H, rows), (3, W, cols)):
                for s in range(0, n, step):
                    idx = range(s, min(n, s + step))
                    batch = x0.repeat(len(idx), 1, 1, 1)
                    for j, r in enumerate(idx):
                        if axis == 2:
                            batch[j, :, r] = fresh[0, :, r]
                        else:
                            batch[j, :, :, r] = fresh[0, :, :, r]
                    m = probe.forward(batch)[:, :, ys, xs]  # (B, C, P)
                    changed = ((m - ref).abs() > tol).any(1).cpu().numpy()  # (B, P)
                    acc[:, s:s + len(idx)] |= changed.T
    out = []
    for j in range(len(positions)):
        r, c = np.nonzero(rows[j])[0], np.nonzero(cols[j])[0]
        out.append(None if len(r) == 0 or len(c) == 0 else
                   (int(r.min()), int(c.min()), int(r.max()) + 1, int(c.max()) + 1))
    return out


def _boxes(probe: _Probe, positions: list[tuple[int, int]]) -> list[tuple[int, int, int, int]]:
    """Exact boxes (top, left, bottom, right; end-exclusive) of ``positions``: the gradient's support, then the
    perturbation where there is no gradient; the whole image for a unit that no pixel changes."""
    got = _grad_boxes(probe, positions)
    missing = [i for i, b in enumerate(got) if b is None]
    if missing:
        for i, b in zip(missing, _perturb_boxes(probe, [positions[i] for i in missing])):
            got[i] = b
    H, W = probe.hw
    return [b if b is not None else (0, 0, H, W) for b in got]
