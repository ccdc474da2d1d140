"""Opening a model file for the GUI ("Open model…" in the Models workspace), as task generators run off the GUI
thread; only immutable snapshots come back.

    first = run(peek_task("my.pt"))              # Peek: the spec (input from the file's metadata, or None), channels
    spec = dataclasses.replace(first.spec, input=asked)   # the GUI asks for the input spec when the file has none
    opened = run(open_task(spec))                # Opened: feature_info, architecture rows, first-conv bank

``open_task`` builds the model once (``app.models.external.build``) and keeps only plain data: the model object
itself never leaves the worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generator

from app.models.base import ModelError
from app.models.external.backbone import ArchRow
from app.models.external.model import build, file_channels, metadata_size, spec_for
from app.models.spec import ModelSpec
from app.tasks import CancelToken, Progress, check


@dataclass(frozen=True)
class Peek:
    spec: ModelSpec  # backbone "external"; ``input`` set when the file's metadata declares it
    channels: int  # input channels (metadata, static shape or first conv)
    size: tuple[int, int] | None = None  # (H, W) the file's metadata states without a normalisation (no input spec)


@dataclass(frozen=True, eq=False)
class Opened:
    spec: ModelSpec
    default_input: tuple[int, int, int]  # (C, H, W) the layers were discovered on
    layers: tuple[tuple[str, int, int], ...]  # feature_info: (name, channels, stride)
    rows: tuple[ArchRow, ...]  # the module tree (``ExternalBackbone.architecture()``)
    summary: dict[str, Any]  # ``ExternalBackbone.describe()``
    bank: Any  # the first conv as an ``app.kernels.KernelBank``, or None
    bank_note: str  # why there is no bank ("" when there is one)
    untouched: tuple[str, ...] = ()  # parameters a random twin's re-initialisation left as they were


def peek_task(source: str, weights: str | None = None, cancel: CancelToken | None = None
              ) -> Generator[Progress, None, Peek]:
    """Detect the format, read the metadata; ``ModelFileError`` (a clear message) for a file that is not a model."""
    name = source if str(source).startswith("timm:") else Path(source).name
    yield Progress(0, 2, f"reading {name}")
    spec = spec_for(source, weights)
    check(cancel)
    yield Progress(1, 2, "input channels")
    fmt = spec.kwargs.get("format")
    ch = spec.input.channels if spec.input is not None else file_channels(source, fmt, weights)
    size = metadata_size(source, fmt, weights) if spec.input is None and fmt != "state_dict" else None
    return Peek(spec, int(ch), size)


def open_task(spec: ModelSpec, cancel: CancelToken | None = None) -> Generator[Progress, None, Opened]:
    """Build ``spec`` (a trained model or its random twin) on the CPU, discover its layers, snapshot what the GUI
    shows."""
    import torch

    from app.models.viz import BUILD_LOCK

    yield Progress(0, 2, f"building {spec.label}")
    check(cancel)
    with BUILD_LOCK, torch.inference_mode(False):  # builds seed torch's global generator: one at a time
        model = build(spec, "cpu")
    check(cancel)
    yield Progress(1, 2, "reading layers")
    try:
        bank, note = model.first_conv_bank(name=f"{spec.label}: first conv"), ""
    except ModelError as exc:
        bank, note = None, str(exc)
    return Opened(spec, tuple(int(v) for v in model.default_input),
                  tuple((i.name, int(i.channels), int(i.stride)) for i in model.feature_info),
                  tuple(model.architecture()), dict(model.describe()), bank, note,
                  tuple(getattr(model, "untouched_by_init", ()) or ()))
