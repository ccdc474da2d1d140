"""How a Live pane's forward pass runs on its device: its memory format (``channels_last_faster``) and its
arithmetic: float32, float16 autocast on CUDA, bfloat16 autocast on a CPU that computes it natively. Qt-free.

A config's ``precision`` (``app.live.config.PRECISIONS``): "auto" is float16 on CUDA (unless the engine was made
with ``amp=False``, as ``bench live --no-amp``) and float32 elsewhere, so that a CPU shows float32 maps and
statistics unless asked; "full" is float32 everywhere (on CUDA without cuDNN's default TF32, whose
products keep 10 mantissa bits); "fast" is float16 on CUDA and bfloat16 on a CPU with
AVX-512 BF16 or AMX (resnet20 to layer1.2 at 240x320, this machine's Xeon: 11 ms a forward on one core against
28 ms in float32; the Live loop 1.3-1.6x the frames), float32 on other CPUs, where bfloat16 is emulated and slower."""

from __future__ import annotations

import functools
import time
from contextlib import nullcontext
from typing import Callable

import torch

from app.device import exact_float32
from app.live.config import PRECISIONS


@functools.cache
def cpu_bfloat16_native() -> bool:
    """The CPU computes bfloat16 natively (AVX-512 BF16 or AMX, as oneDNN sees it); asked once (a fast pane asks
    every frame)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:  # an older or a different build: say no
        return False


def forward_dtype(device: torch.device, precision: str = "auto", amp: bool = True) -> torch.dtype | None:
    """The autocast type for ``precision`` on ``device``; None: float32."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "full":
        return None
    if device.type == "cuda":
        return torch.float16 if (precision == "fast" or amp) else None
    if precision == "fast" and device.type == "cpu" and cpu_bfloat16_native():
        return torch.bfloat16
    return None


def autocast(device: torch.device, dtype: torch.dtype | None):
    """The context a forward pass runs in: ``dtype`` autocast on ``device``; float32 (None) as float32: on CUDA
    with cuDNN's default TF32 switched off for the pass (``app.device.exact_float32``), elsewhere nothing to do."""
    if dtype is not None:
        return torch.autocast(device.type, dtype=dtype)
    return exact_float32() if device.type == "cuda" else nullcontext()


def name(dtype: torch.dtype | None) -> str:
    """"float32", "bfloat16", "float16"."""
    return "float32" if dtype is None else str(dtype).removeprefix("torch.")


def describe(dtype: torch.dtype | None, precision: str, device: torch.device) -> str:
    """What a pane's timing tooltip says of its arithmetic."""
    if dtype is not None:
        return (f"computed in {name(dtype)} autocast: early layers' maps look the same as float32's, deeper "
                "layers' can differ visibly (random networks most; measured in docs/benchmarks/live.md), and "
                "read-outs of small values are less exact (precision float32 for exact ones)")
    if precision == "fast" and device.type == "cpu":
        return "computed in float32: this CPU has no native bfloat16 (AVX-512 BF16 or AMX)"
    if device.type == "cuda":
        return "computed in float32 (cuDNN's default TF32 products switched off for it)"
    return "computed in float32"


def channels_last_faster(model: torch.nn.Module, set_format: Callable[[bool], None], x: torch.Tensor, layer: int,
                         context) -> bool:
    """Whether ``model`` up to ``layer`` runs faster on ``x`` in channels-last than in the contiguous format, in
    ``context`` (its autocast: bfloat16's kernels gain far more from channels-last than float32's). ``set_format``
    puts the model's weights in a format (True: channels-last). Each format warmed up once (its first use allocates
    and picks kernels), then timed three times interleaved, the best of each compared: one noisy sample once picked
    the format that was 50% slower here."""
    times: dict[bool, float] = {}
    inputs = {cl: x.contiguous(memory_format=torch.channels_last if cl else torch.contiguous_format)
              for cl in (True, False)}
    with context:
        for cl in (True, False):
            set_format(cl)
            model.forward_intermediates(inputs[cl], [layer])
        for cl in (True, False) * 3:
            set_format(cl)
            t0 = time.perf_counter()
            model.forward_intermediates(inputs[cl], [layer])
            times[cl] = min(times.get(cl, 1e9), time.perf_counter() - t0)
    return times[True] <= times[False]
