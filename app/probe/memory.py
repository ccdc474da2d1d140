"""Will a probe run's head fit in memory? Checked before the extraction, from the feature count.

A run whose head cannot fit would extract for minutes and then be ended by the system's out-of-memory killer:
from the desktop app, the whole window with it (unsaved kernels too). ``check_fits`` is called by
``app.probe.run.run_resolved`` once the backbone is built (and fitted), with the feature count one image gives, and
raises ``app.errors.LimitError`` when the run's largest arrays alone are more than the memory available now.

What is counted (``need``), the arrays that dominate a large run, so a lower bound of what it takes:
- logistic, svm, knn: the training features standardised in float32 on the head's device, and one scored split's
  beside them (``select_and_fit`` holds the validation features while choosing, then the test features):
  ``4 d (n_train + max(n_val, n_test))`` bytes;
- ridge: its Gram matrix in float64, ``8 d^2`` when d <= n_train (primal), else ``8 n_train^2`` and the
  standardised training rows (dual);
- a PCA feature budget: the fit's float64 copy of the training features and its centred copy, ``16 d n_train``,
  in host memory whatever the head's device (then the head on the budget's features);
- the own head (``--head own``): not counted (it scores the model's own outputs, no features).

What is available (``available``): on the CPU the kernel's MemAvailable (Linux; free memory plus what the page cache
can give back), or less where a memory cgroup (a container) allows less; on CUDA the device's free memory plus what
torch holds unused; None elsewhere (nothing checked). The process, the decoded dataset and the model come on top of
``need``, so the check refuses only runs that cannot fit; a run it lets through may still be tight.
``FILTER_EXPLORER_LIMITS=off`` lifts it (``app.data.limits``).
Measured (2026-12-04, this 2-core machine): the ``random-cifar10`` preset counts 8.1 GB and peaked at 13.7 GB RSS,
``patches-cifar10`` 3.2 GB and 7.4 GB at k = 400, 12.7 GB and 20.5 GB at its k = 1600 (the RSS includes the feature
caches' pages, which the system can drop).
"""

from __future__ import annotations

from pathlib import Path

from app.data import limits
from app.errors import LimitError
from app.storage import human_size


def parts(head: str, n_train: int, n_val: int, n_test: int, d: int, budget: int | None = None,
          budget_method: str | None = None) -> tuple[int, int]:
    """(bytes on the head's device, bytes of a PCA budget's fit in host memory): see the module docstring."""
    n_train, n_val, n_test, d = (max(0, int(v)) for v in (n_train, n_val, n_test, d))
    pca = 0
    if budget is not None and int(budget) < d:
        if (budget_method or "pca") == "pca":
            pca = 16 * d * n_train  # numpy, on the host, whatever the head's device
        d = int(budget)
    if head in ("logistic", "svm", "knn"):
        head_bytes = 4 * d * (n_train + max(n_val, n_test))
    elif head == "ridge":
        head_bytes = 8 * d * d if d <= n_train else 8 * n_train * n_train + 4 * n_train * d
    else:
        head_bytes = 0
    return head_bytes, pca


def need(head: str, n_train: int, n_val: int, n_test: int, d: int, budget: int | None = None,
         budget_method: str | None = None) -> int:
    """Bytes of the run's largest arrays at any one time (see the module docstring); 0 for a head that takes no
    features."""
    return max(parts(head, n_train, n_val, n_test, d, budget, budget_method))


def _meminfo_available(path: Path = Path("/proc/meminfo")) -> int | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


CGROUP = Path("/sys/fs/cgroup")


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
        return None if text == "max" else int(text)
    except (OSError, ValueError):
        return None


def _stat(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _cgroup_available(root: Path = CGROUP) -> int | None:
    """What this process's memory cgroup still allows (its limit less its usage, the inactive page cache counted as
    free, as ``docker stats`` does): a container's limit is often far below the host's MemAvailable, and past it
    the container's processes are killed. cgroup v2 (``memory.max``) or v1 (``memory/memory.limit_in_bytes``);
    None without a limit."""
    for limit_f, usage_f, stat_f, inactive in (("memory.max", "memory.current", "memory.stat", "inactive_file"),
                                               ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes",
                                                "memory/memory.stat", "total_inactive_file")):
        limit, usage = _read_int(root / limit_f), _read_int(root / usage_f)
        if limit is not None and usage is not None and limit < 2 ** 60:  # v1 says "no limit" as ~2^63
            return max(0, limit - usage + _stat(root / stat_f, inactive))
    return None


def available(device) -> int | None:
    """Bytes available to the run on ``device`` now; None when this system does not say."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda":
        try:
            free, _total = torch.cuda.mem_get_info(dev)
            return int(free + torch.cuda.memory_reserved(dev) - torch.cuda.memory_allocated(dev))
        except (RuntimeError, AssertionError):
            return None
    if dev.type == "cpu":
        found = [v for v in (_meminfo_available(), _cgroup_available()) if v is not None]
        return min(found) if found else None
    return None


def check_fits(head: str, n_train: int, n_val: int, n_test: int, d: int, device, budget: int | None = None,
               budget_method: str | None = None, what: str | None = None) -> None:
    """Raise ``LimitError`` when ``need`` is more than ``available(device)`` (unless limits are off); ``what``
    prefixes the message (the caller's context usually names the run already)."""
    if not limits.enabled():
        return
    import torch

    head_bytes, pca = parts(head, n_train, n_val, n_test, d, budget, budget_method)
    for want, dev in ((head_bytes, torch.device(device)), (pca, torch.device("cpu"))):
        have = available(dev) if want else None
        if have is not None and want > have:
            break
    else:
        return
    where = "this GPU has" if dev.type == "cuda" else "this machine has"
    shape = f"{n_train:,} training + {max(n_val, n_test):,} scored images x {d:,} features"
    who, arrays = (f"the {head} head", "float32") if want == head_bytes else ("the PCA feature budget's fit", "float64")
    raise LimitError(
        f"{what + ': ' if what else ''}{who} needs at least {human_size(want)} of memory ({shape}, {arrays}) and "
        f"{where} {human_size(have)} available now: nothing was extracted. Fewer features (a smaller "
        f"k, a coarser pooling, a random feature budget), fewer training images or more memory would fit "
        f"({limits.LIMITS_ENV}=off runs it anyway)")
