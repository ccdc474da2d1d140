"""The contents of the files a cell's settings name, as digests for its key (``app.experiments.recipe.Cell.key``):
a checkpoint replaced under the same name, or an image folder's images added or rewritten, give new keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.storage import content_id


def file_digests(settings: dict[str, Any]) -> dict[str, str]:
    """The contents of the files a cell's settings name, as digests: ``weights`` naming a file on this machine (and
    its JSON sidecar, which a checkpoint without a backbone is built from), and an ``imagefolder:PATH`` dataset (its
    images' paths, sizes and times: ``app.data.imagefolder.folder_signature``). ``known:`` / ``shipped:`` names,
    built-in datasets, and a path that is not there (the cell fails on it), give none."""
    out: dict[str, str] = {}
    w = settings.get("weights")
    if isinstance(w, str) and w and not w.startswith(("known:", "shipped:")):
        p = Path(w).expanduser()
        files = [("weights", p)] + ([("weights sidecar", p.with_suffix(".json"))] if p.suffix != ".json" else [])
        for what, f in files:
            digest = content_id(f)
            if digest:  # unreadable or missing: the cell says so when it runs
                out[what] = digest
        if "weights" not in out:
            out = {}
    dataset = settings.get("dataset")
    if isinstance(dataset, str) and dataset.startswith("imagefolder:"):
        from app.data.imagefolder import folder_signature

        sig = folder_signature(dataset.split(":", 1)[1])
        if sig:  # an image added, removed or rewritten: new keys, the stored results are not reused
            out["dataset"] = sig
    return out


def pending_folders(settings_list) -> list[str]:
    """The image folders (``imagefolder:PATH`` datasets) among these cells' settings whose signature is not known yet
    in this process (``app.data.folder_scan.signature_known``): computing a cell's key would walk each one's files.
    In order, without repeats."""
    from app.data.folder_scan import signature_known

    out: list[str] = []
    for settings in settings_list:
        dataset = settings.get("dataset")
        if isinstance(dataset, str) and dataset.startswith("imagefolder:"):
            path = dataset.split(":", 1)[1]
            if path not in out and not signature_known(path):
                out.append(path)
    return out


def read_signatures(paths, cancel=None):
    """Task (``app.tasks``): each image folder's signature read once (``folder_signature``: a stat of every file), so
    that cells' keys answer at once afterwards in this process. Returns the paths read."""
    from app.data.folder_scan import folder_signature
    from app.tasks import Progress, check

    paths = list(paths)
    for i, path in enumerate(paths):
        check(cancel)
        yield Progress(i, len(paths), f"reading the file list of {path}")
        folder_signature(path)
    return paths
