"""Choice and description of the compute device (CUDA, then MPS, then CPU)."""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator

from app.errors import AppError

if TYPE_CHECKING:  # torch is imported where a device is needed: the light commands start without it
    import torch

_override: str | None = None


class DeviceError(AppError, ValueError):
    """A device or thread count the user asked for that this machine cannot give (``--device``, ``--threads``,
    ``FILTER_EXPLORER_THREADS``)."""


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
    if spec.startswith("cuda") or spec == "mps":
        import torch
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {spec}: CUDA is not available on this machine (torch {torch.__version__})")
        if ":" in spec:
            try:
                idx = int(spec.split(":", 1)[1])
            except ValueError:
                raise DeviceError(f"--device {spec}: the CUDA device index must be a number (cuda:0)") from None
            if idx >= torch.cuda.device_count():
                raise DeviceError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s) present")
        return
    if spec == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise DeviceError("--device mps: Apple MPS is not available on this machine")
        return
    raise DeviceError(f"unknown device {spec!r}: use auto, cpu, cuda, cuda:N or mps")


def _cgroup_cpus() -> float | None:
    """The CPU quota of this process's container (cgroup v2 ``cpu.max`` or v1 ``cfs_quota_us``), in cores; None
    when there is none or it cannot be read."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max" and float(period) > 0:
            return float(quota) / float(period)
        return None
    except (OSError, ValueError):
        pass
    try:
        quota = float(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period = float(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def available_cores() -> int:
    """The cores this process may really use: ``os.cpu_count()`` limited by the CPU affinity mask and a container's
    CPU quota (a container on a 64-core host limited to 2 cores reports 64 in ``os.cpu_count()``; 64 torch threads or
    64 worker processes there wait on each other for minutes)."""
    n = os.cpu_count() or 1
    try:
        n = min(n, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        pass
    quota = _cgroup_cpus()
    if quota is not None:
        n = min(n, max(1, int(quota + 0.5)))
    return max(1, n)


def default_threads(gui: bool = False) -> int:
    """All cores for headless commands; one core left to the GUI thread when a window is up.

    The GUI thread paints the Live mosaics (and plots) while the worker computes. If torch's OpenMP team takes every
    core, a team thread is descheduled whenever the GUI paints and the others wait for it at each barrier, and the
    GUI thread waits for a core: on the 2-core development machine the GUI heartbeat test saw 50-100 ms gaps with 2
    torch threads under load, and the offscreen Live view (three default panes) ran at 6.1 FPS with 2 threads vs
    14-17.5 FPS with 1. In a real (Xvfb) window the two were within noise (17-23.5 vs 17-20 FPS), so on 2 cores this
    trades a little compute for a window that keeps responding; on bigger machines it costs one core of many."""
    cores = available_cores()
    return cores - 1 if gui and cores > 1 else cores


def max_threads() -> int:
    """The most threads a user may ask for: 4 per core, at least 64 (more only oversubscribes; far more crashes
    OpenMP: ``--threads 100000`` ended in a segfault)."""
    return max(64, 4 * (os.cpu_count() or 1))


def parse_threads(value: Any, source: str = "--threads") -> int:
    """A thread count from the command line or the environment, checked: 1..``max_threads()``, else DeviceError
    naming ``source``."""
    text = str(value).strip()
    try:
        n = int(text)
    except ValueError:
        raise DeviceError(f"{source}={text!r}: the number of threads must be a whole number, "
                          f"1..{max_threads()}") from None
    if not 1 <= n <= max_threads():
        raise DeviceError(f"{source}={n}: the number of threads must be 1..{max_threads()} "
                          f"(this machine has {available_cores()} cores)")
    return n


def threads_arg(text: str) -> int:
    """argparse ``type=`` for ``--threads`` (a bad value is argparse's clear usage error, exit 2)."""
    import argparse

    try:
        return parse_threads(text)
    except DeviceError as exc:
        raise argparse.ArgumentTypeError(str(exc).split(": ", 1)[1]) from None


def requested_threads(n: int | None = None, gui: bool = False) -> int:
    """The torch thread count to use: ``n`` (``--threads``), else FILTER_EXPLORER_THREADS, else
    ``default_threads(gui)``; checked by ``parse_threads``."""
    if n is not None:
        return parse_threads(n, "--threads")
    env = os.environ.get("FILTER_EXPLORER_THREADS", "").strip()
    return parse_threads(env, "FILTER_EXPLORER_THREADS") if env else default_threads(gui)


_forced: int | None = None
_configured: int | None = None


def configured_threads() -> int:
    """The count ``configure_threads`` chose last (else ``default_threads()``): the most a ThreadTuner uses."""
    return _configured or default_threads()


def forced_threads() -> int | None:
    """The count the user fixed (``--threads`` or FILTER_EXPLORER_THREADS, as last configured), else None: then the
    compute loops adapt it to the load (``app.threads.ThreadTuner``)."""
    return _forced


def configure_threads(n: int | None = None, gui: bool = False) -> int:
    """Set torch's intra-op threads deliberately (``requested_threads(n, gui)``): now if torch is loaded, else the
    moment it is (the light commands, ``--help``, ``kernels kinds``, ``models list``, never load it)."""
    global _forced, _configured
    asked = n is not None or bool(os.environ.get("FILTER_EXPLORER_THREADS", "").strip())
    n = requested_threads(n, gui)
    _forced = n if asked else None
    _configured = n
    when_torch_imported(lambda torch: torch.set_num_threads(n))
    return n


_after_torch: list[Callable[[Any], None]] = []


def when_torch_imported(fn: Callable[[Any], None]) -> None:
    """Call ``fn(torch)`` now if torch is imported, else right after ``import torch`` first completes."""
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "set_num_threads"):
        fn(torch)
        return
    _after_torch.append(fn)
    if not any(isinstance(f, _TorchImportHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _TorchImportHook())


class _TorchImportHook:
    """A meta path finder that wraps the loading of the top-level ``torch`` package once, so that the pending
    ``when_torch_imported`` calls run as soon as it has executed (before any handler computes with it)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "torch":
            return None
        sys.meta_path.remove(self)  # look the real spec up without us; we are done after this one
        spec = importlib.util.find_spec("torch")
        if spec is None or spec.loader is None:
            return spec
        inner = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            inner(module)
            while _after_torch:
                _after_torch.pop(0)(module)

        spec.loader.exec_module = exec_module  # this spec's own loader instance only
        return spec


# glibc malloc tuning (see tune_allocator)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's upper bound for this setting
TRIM_THRESHOLD = 512 * 2**20


def tune_allocator() -> bool:
    """Keep freed tensor memory in the process instead of handing it back to the OS after every frame (glibc only).

    With glibc's defaults a CNN's activations of a few MB each are mmap'ed and unmapped, or trimmed off the heap, on
    every forward pass, so every frame page-faults its activations in again: measured here on resnet20 at 240x320,
    6,000-10,000 page faults per frame and 25 ms per forward; with freed blocks up to 32 MB kept on the heap and the
    heap trimmed only above 512 MB free, 0 faults and 16 ms (the Live view: 30 -> 48 FPS). Large arrays (feature
    caches, datasets) are still mmap'ed and returned on free. ``FILTER_EXPLORER_MALLOC_TUNING=0`` turns this off.
    Returns True when the settings were applied."""
    if os.environ.get("FILTER_EXPLORER_MALLOC_TUNING", "1").strip().lower() in ("0", "off", "no", "false"):
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return False
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
        return libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
    except (OSError, ValueError, AttributeError):  # not glibc (musl, ...): nothing to tune
        return False


def pick() -> "torch.device":
    """The device the app computes on."""
    import torch

    spec = _override or os.environ.get("FILTER_EXPLORER_DEVICE")
    if spec and spec != "auto":
        _validate(spec)
        return torch.device(spec)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe(device: "torch.device | None" = None) -> DeviceInfo:
    import torch

    device = device or pick()
    if device.type == "cuda":
        idx = device.index if device.index is not None else torch.cuda.current_device()
        return DeviceInfo("cuda", f"CUDA: {torch.cuda.get_device_name(idx)}", str(device))
    if device.type == "mps":
        return DeviceInfo("mps", "Apple MPS", "mps")
    n = torch.get_num_threads()
    return DeviceInfo("cpu", f"CPU ({n} thread{'s' if n != 1 else ''})", "cpu")


CPUINFO = "/proc/cpuinfo"


def cpu_model() -> str:
    """The processor's model name ("AMD EPYC 7B13", "Intel(R) Core(TM) i7-1165G7 ..."), as the system names it:
    ``/proc/cpuinfo`` on Linux, ``platform.processor()`` elsewhere; the architecture when neither names it."""
    import platform

    try:
        with open(CPUINFO, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "cpu model") and value.strip():
                    return " ".join(value.split())
    except OSError:
        pass
    return platform.processor().strip() or platform.machine() or "unknown CPU"


_machine: dict | None = None


def machine() -> dict:
    """What a result was computed on, recorded beside it: processor, torch's CPU kernels (its vector instruction
    set: the same run can differ in its last float bits between an AVX2 and an AVX-512 machine, so a trained
    network's figures reproduce on one machine, not necessarily across machines), cores, system and versions.

    Measured once per process (a plain dict, safe to share between threads once made)."""
    global _machine
    if _machine is None:
        import platform

        import numpy
        import torch

        try:
            kernels = str(torch.backends.cpu.get_cpu_capability())
        except (AttributeError, RuntimeError):  # an older torch
            kernels = None
        _machine = {"cpu": cpu_model(), "cpu_kernels": kernels, "cores": available_cores(),
                    "system": f"{platform.system()} {platform.machine()}", "python": platform.python_version(),
                    "torch": torch.__version__, "numpy": numpy.__version__}
    return dict(_machine)


def machine_text(m: dict | None) -> str:
    """One line for a recorded ``machine()``: "AMD EPYC (AVX2 kernels), 2 cores, Linux x86_64, torch 2.13.0";
    "-" for a run recorded before machines were."""
    if not m:
        return "-"
    parts = [str(m.get("cpu") or "unknown CPU") + (f" ({m['cpu_kernels']} kernels)" if m.get("cpu_kernels") else "")]
    if m.get("cores"):
        parts.append(f"{m['cores']} core{'s' if m['cores'] != 1 else ''}")
    parts += [str(m[k]) if k == "system" else f"{k} {m[k]}" for k in ("system", "torch") if m.get(k)]
    return ", ".join(parts)


MACHINE_KEYS = ("cpu", "cpu_kernels", "torch")  # what may change a result's float bits: told apart in comparisons


def machines_differ(a: dict | None, b: dict | None) -> list[str]:
    """The ``MACHINE_KEYS`` on which two recorded machines differ (empty when equal or either is not recorded)."""
    if not a or not b:
        return []
    return [k for k in MACHINE_KEYS if a.get(k) != b.get(k)]


_exact_lock = threading.Lock()
_exact_depth = 0
_exact_saved: tuple[bool, bool] | None = None


@contextmanager
def exact_float32() -> Iterator[None]:
    """float32 convolutions and matrix products computed as float32 for the block. cuDNN's default on Ampere and
    later GPUs is TF32 (products of 10-bit mantissas, ~1e-3 relative error), so that "float32" would not be what
    a CUDA run computes; the block switches TF32 off and the flags come back when the last block open (in any
    thread) ends. The flags are process-wide: other threads' CUDA work meanwhile is exact float32 too (slower, never
    less exact). Nested and concurrent blocks count, so that one ending early restores nothing under another.
    On a CPU the flags change nothing (its float32 is float32)."""
    import torch

    global _exact_depth, _exact_saved
    with _exact_lock:
        if _exact_depth == 0:
            _exact_saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
            torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
        _exact_depth += 1
    try:
        yield
    finally:
        with _exact_lock:
            _exact_depth -= 1
            if _exact_depth == 0 and _exact_saved is not None:
                torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = _exact_saved
                _exact_saved = None
