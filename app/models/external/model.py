"""Specs and builds for models the user brings (``ModelSpec.backbone == "external"``).

    spec = spec_for("my.pt")                     # or "net.onnx", "timm:resnet18" + weights="r18.safetensors"
    model = build(spec, device)                  # an ExternalBackbone, eval mode, fe_spec set
    twin = build(twin_spec(spec, "default", 0))  # the same architecture, re-initialised (seeded)

A spec carries ``options = {"source": path or "timm:NAME", "format": "torchscript"|"onnx"|"timm"|"state_dict"}``;
``weights`` is the file holding the trained weights (the model file itself, or the timm weights file), None for a
random twin; ``init`` is ``checkpoint`` (the trained weights) or an ``app.models.freeze.INITS`` name (the twin).
``input`` is the input spec the file's metadata declares (TorchScript extra file ``filter_explorer.json``, ONNX
``metadata_props``, timm's ``pretrained_cfg``), unless the user declared one.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from app.models.base import ModelError
from app.models.external.backbone import ExternalBackbone
from app.models.external.formats import Loaded, ModelFileError, detect, load, parse_metadata, read_metadata
from app.models.external.twin import reinit
from app.models.spec import ModelSpec

BACKBONE = "external"


def metadata_input(meta: dict[str, Any] | None, where: str):
    """The ``InputSpec`` a file's metadata declares, or None."""
    from app.models.inputs import InputSpec, InputSpecError

    if not meta:
        return None
    meta = parse_metadata(meta, where)
    try:
        return InputSpec.from_dict(meta, source=f"model metadata ({where})")
    except InputSpecError as exc:
        raise ModelFileError(f"{where}: the input spec in its metadata is not usable ({exc})") from None


def _where(source: str) -> str:
    return source if source.startswith("timm:") else Path(source).name


def spec_for(source: str | Path, weights: str | Path | None = None, *, fmt: str | None = None, label: str = "",
             init: str = "checkpoint", seed: int = 0, declared: Any = None, freeze: tuple[str, ...] = ()) -> ModelSpec:
    """A spec for the model in ``source`` (format detected); reads its metadata for the input spec.

    ``declared``: an ``InputSpec`` the user gave (wins over the metadata)."""
    source = str(source)
    fmt = fmt or detect(source)
    if not source.startswith("timm:"):
        source = str(Path(source).expanduser())
    if fmt == "timm":
        from app.models.external.formats import check_timm

        check_timm(source[5:] if source.startswith("timm:") else source)
        if weights is not None:
            weights = str(Path(weights).expanduser())
            if not Path(weights).is_file():
                raise ModelFileError(f"{weights}: no such file (the weights of {source})")
    elif weights is not None:
        raise ModelFileError(f"{_where(source)}: a {fmt} file carries its own weights; --weights is for timm:NAME")
    else:
        weights = source
    trained = init == "checkpoint" and (fmt != "timm" or weights is not None)
    inp = declared
    if inp is None and trained:
        inp = metadata_input(read_metadata(source, fmt, weights), _where(source))
    elif fmt == "onnx":
        read_metadata(source, fmt)  # the extra is there and the file is ONNX: say so now, not at build time
    if fmt == "timm" and trained:  # the weights fit the architecture: say so now, not at build time
        load(source, fmt, weights)
    if fmt == "state_dict":  # readable, and an architecture the app has: say so now, not at build time
        from app.models.external.formats import read_weights, state_dict_architecture

        state_dict_architecture(Path(source), read_weights(Path(source)))
    name = label or (_where(source) + ("" if trained else " (random twin)"))
    return ModelSpec.make(BACKBONE, label=name, options={"source": source, "format": fmt},
                          init=init if trained or init != "checkpoint" else "default",
                          weights=weights if trained else None, freeze=tuple(freeze), seed=int(seed),
                          weight_state="trained" if trained else "random", input=inp)


def file_channels(source: str, fmt: str | None = None, weights: str | Path | None = None) -> int:
    """Input channels of the model in ``source``: its metadata's, else its first conv's (3 when unknown)."""
    from app.models.external.backbone import conv_modules

    fmt = fmt or detect(source)
    meta = read_metadata(str(source), fmt, weights)
    if meta and "channels" in meta:
        return int(meta["channels"])
    loaded = load(str(source), fmt, weights)
    if loaded.metadata and "channels" in loaded.metadata:
        return int(loaded.metadata["channels"])
    if loaded.static_input is not None:
        return int(loaded.static_input[0])
    convs = conv_modules(loaded.module)
    if not convs:
        return 3
    m = convs[0][1]
    return int(m.weight.shape[1] * getattr(m, "groups", 1))


def twin_spec(spec: ModelSpec, init: str = "default", seed: int | None = None) -> ModelSpec:
    """The random twin of ``spec``: same architecture, no trained weights, ``init`` (seeded)."""
    if init == "checkpoint":
        raise ModelError("a random twin needs an initialisation other than 'checkpoint'")
    base = spec.label.replace(" (random twin)", "")
    return dataclasses.replace(spec, init=init or "default", weights=None, weight_state="random", input=None,
                               seed=spec.seed if seed is None else int(seed), label=f"{base} (random twin)")


def _loaded(spec: ModelSpec) -> tuple[Loaded, list[str]]:
    from app.models.build import SEED_LOCK

    opts = spec.kwargs
    source, fmt = opts.get("source"), opts.get("format")
    if not source:
        raise ModelError("an external model spec needs options.source (a file or timm:NAME)")
    trained = spec.init == "checkpoint"
    with SEED_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(spec.seed))
        loaded = load(str(source), fmt, spec.weights if fmt == "timm" else None, trained=trained)
        left: list[str] = []
        if not trained:
            left = reinit(loaded.module, spec.init, int(spec.seed))
    return loaded, left


def create(options: dict[str, Any]) -> ExternalBackbone:
    """The model of ``options`` (``source``, ``format``) as the file has it, without the spec's extras."""
    return build(ModelSpec.make(BACKBONE, options=dict(options), init="checkpoint"), "cpu")


def build(spec: ModelSpec, device: torch.device | str | None = None) -> ExternalBackbone:
    """Load (or re-initialise: the twin), wrap, discover the layers, apply banks and freezing, move to ``device``."""
    from app.models.build import apply_bank, resolve_conv
    from app.models.freeze import apply_freeze, mark_always_frozen

    if device is None:
        from app import device as _dev

        device = _dev.pick()
    loaded, left = _loaded(spec)
    where = _where(str(spec.kwargs.get("source")))
    inp = spec.input if spec.input is not None else metadata_input(loaded.metadata, where)
    channels = fixed = None
    size = loaded.size_hint
    if loaded.static_input is not None:
        channels, size, fixed = loaded.static_input[0], loaded.static_input[1:], True
    if inp is not None:
        channels, size = inp.channels, (inp.size or size)
    model = ExternalBackbone(loaded.module, fmt=loaded.fmt, source=str(spec.kwargs.get("source")),
                             label=spec.label or where, channels=channels, size=size, fixed=fixed)
    model.untouched_by_init = left  # parameters the twin's re-initialisation left as they were
    model.input_meta = inp
    mark_always_frozen(model)
    for layer, bank in spec.banks:
        apply_bank(resolve_conv(model, layer), bank)
    apply_freeze(model, spec.freeze)
    model.to(device)
    model.eval()
    object.__setattr__(model, "fe_spec", spec)
    return model
