"""Choice and description of the compute device (CUDA, then MPS, then CPU)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

_override: str | None = None


@dataclass(frozen=True)
class DeviceInfo:
    kind: str  # "cuda", "mps" or "cpu"
    name: str  # what the status bar shows
    torch_device: str

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.name


def set_override(spec: str | None) -> None:
    """Force a device ("cpu", "cuda", "cuda:1", "mps"); None returns to automatic choice."""
    global _override
    if spec is not None:
        spec = spec.strip().lower()
        if spec in ("", "auto"):
            spec = None
    if spec is not None:
        _validate(spec)
    _override = spec


def _validate(spec: str) -> None:
    if spec == "cpu":
        return
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"--device {spec}: CUDA is not available on this machine (torch {torch.__version__})")
        if ":" in spec:
            idx = int(spec.split(":", 1)[1])
            if idx >= torch.cuda.device_count():
                raise ValueError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s) present")
        return
    if spec == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ValueError("--device mps: Apple MPS is not available on this machine")
        return
    raise ValueError(f"unknown device {spec!r}: use auto, cpu, cuda, cuda:N or mps")


def configure_threads(n: int | None = None) -> int:
    """Set torch's intra-op threads deliberately (all cores by default; FILTER_EXPLORER_THREADS overrides)."""
    if n is None:
        env = os.environ.get("FILTER_EXPLORER_THREADS")
        n = int(env) if env else (os.cpu_count() or 1)
    n = max(1, int(n))
    torch.set_num_threads(n)
    return n


def pick() -> torch.device:
    """The device the app computes on."""
    spec = _override or os.environ.get("FILTER_EXPLORER_DEVICE")
    if spec and spec != "auto":
        _validate(spec)
        return torch.device(spec)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe(device: torch.device | None = None) -> DeviceInfo:
    device = device or pick()
    if device.type == "cuda":
        idx = device.index if device.index is not None else torch.cuda.current_device()
        return DeviceInfo("cuda", f"CUDA: {torch.cuda.get_device_name(idx)}", str(device))
    if device.type == "mps":
        return DeviceInfo("mps", "Apple MPS", "mps")
    return DeviceInfo("cpu", f"CPU ({torch.get_num_threads()} threads)", "cpu")
