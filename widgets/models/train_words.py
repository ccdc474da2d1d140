"""The training dialog's words and small helpers (no Qt): its datasets (``DATASETS``) and their names in its texts
(``dataset_words``), the name of a run's files (``unique_out``), its task (``train_and_count``), the figures a
finished run reports (``result_lines``), why a dataset cannot be trained on here (``missing_data``), the "Model"
line (``describe_spec``) and the accuracy an epoch's curve shows."""

from __future__ import annotations

import re
from pathlib import Path

from app.models.spec import ModelSpec

# (key, the dataset box's name, its tooltip)
DATASETS = [("digits", "digits", "scikit-learn's 8x8 digits (1,797 images, offline, seconds)"),
            ("mnist", "MNIST", "MNIST 28x28 (60,000 training images; the shared copy or a download)"),
            ("fashion-mnist", "Fashion-MNIST", "Fashion-MNIST 28x28 clothing (60,000 training images; a download)"),
            ("cifar10", "CIFAR-10", "CIFAR-10 32x32 colour (50,000 training images; a download; minutes per epoch "
                                    "on a CPU: set a train limit to try it)")]
TITLES = {key: title for key, title, _tip in DATASETS}
# the command line's advice in app.data.formats' "not downloaded" message, and what to do in the dialog instead
CLI_DOWNLOAD = re.compile(r"with `python main\.py data download [^`]*` or the Download button")
GUI_DOWNLOAD = "with the Download button beside the dataset"


def dataset_words(text: str, key: str | None) -> str:
    """``text`` (a message of ``app.data`` or of the download) with the dataset named as the dataset box names it:
    "Fashion-MNIST is not downloaded", "Download Fashion-MNIST (29.4 MB)", not "fashion-mnist" beside it. A path
    ("…/fashion-mnist/…") is left as it is."""
    title = TITLES.get(key or "")
    if not title or title == key:
        return text
    return re.sub(rf"(?<![\w/.-]){re.escape(key)}(?![\w/-])", title, text)


def unique_out(folder: Path, stem: str) -> Path:
    """``folder/stem`` where no file of a checkpoint set (weights, sidecar, training state, manifest:
    ``app.models.checkpoint``) exists yet, else ``stem-2``, ``stem-3`` ...: two runs started within the same second
    (the stem's timestamp) wrote the same files, and the first result was overwritten under both session names."""
    from app.models.checkpoint import manifest_path, state_path
    from app.models.weights import checkpoint_paths
    from app.storage import free_stem

    return free_stem(folder, stem, lambda out: (*checkpoint_paths(out), state_path(out), manifest_path(out)))


def train_and_count(spec: ModelSpec, cfg, cancel):
    """The dialog's task: ``viz.train_task``; returns (result, the number of test images it scored)."""
    from app.models.viz import train_task

    result = yield from train_task(spec, cfg, cancel)
    return result, (getattr(result, "n_test", 0) or None)  # the test images app.models.train scored


def result_lines(result, n_test: int | None, cfg) -> tuple[str, str]:
    """(validation text, test text) of a finished run: each figure with the number of images it is on, the seed
    that drew them and, from ``app.metrics.spread_text``, its sampling error (the Wilson 95% interval where a few
    images make an s.e. meaningless: 0.00% on 3 images is not "no accuracy")."""
    from app.metrics import spread_text

    def figure(acc: float, n: int | None) -> str:
        spread = spread_text(acc, n)
        return f"{acc:.2%}" + (f" ({spread})" if spread else "")

    val = getattr(result, "val_acc", None)
    n_val = int(getattr(result, "n_val", 0) or 0)
    if val is not None and n_val:
        val_text = f"validation {figure(val, n_val)} on {n_val:,} training images held out (seed {cfg.seed})"
    else:
        val_text = "no validation split (too few training images)"
    if result.test_acc is None:
        return val_text, "no test accuracy"
    if not n_test:
        on = ""
    elif cfg.test_limit and n_test >= cfg.test_limit:  # a seeded subset: which images depends on the seed
        on = f" on {n_test:,} test images (seed {cfg.seed})"
    else:  # the whole test split (a limit of 'all', or above its size): no seed in it
        on = f" on all {n_test:,} test images"
    return val_text, f"test accuracy (scored once, at the end): top-1 {figure(result.test_acc, n_test)}{on}"


def missing_data(key: str | None) -> str | None:
    """Why ``key`` cannot be trained on here (a built-in dataset with no local copy under the data root), in the
    dialog's words: the dataset by its name in the box, the Download button beside it as the way (not the command
    line's command); None: fine (digits ships with the application)."""
    from app.data.formats import missing

    why = missing(key) if key else None
    if not why:
        return None
    why = dataset_words(CLI_DOWNLOAD.sub(GUI_DOWNLOAD, why), key)
    return f"{why}; or choose digits, which ships with the application"


def describe_spec(spec: ModelSpec) -> str:
    """The dialog's "Model" line: the label, what is frozen and the seed (what Start trains)."""
    frozen = ("frozen: " + ", ".join(spec.freeze)) if spec.freeze else "nothing frozen"
    return f"{spec.label}  ({frozen}; seed {spec.seed})"


def _epoch_acc(rec):
    """The per-epoch accuracy the curve "validation (per epoch)" shows: validation only (None without a validation
    split). The test split, scored once at the end, is a point of its own (``TrainPlots``): a run trained with --val
    0 drew its test accuracy on the validation curve."""
    return getattr(rec, "val_acc", None)
