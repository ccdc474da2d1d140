"""Specs and builds for models the user brings (``ModelSpec.backbone == "external"``).

    spec = spec_for("my.pt")                     # or "net.onnx", "timm:resnet18" + weights="r18.safetensors"
    model = build(spec, device)                  # an ExternalBackbone, eval mode, fe_spec set
    twin = build(twin_spec(spec, "default", 0))  # the same architecture, re-initialised (seeded)

A spec carries ``options = {"source": path or "timm:NAME", "format": "torchscript"|"onnx"|"timm"|"state_dict"}``;
``weights`` is the file holding the trained weights (the model file itself, the timm weights file, or a checkpoint
the app trained of the model: its ``net.``-prefixed weights are loaded into the model the source file builds,
``checkpoint_weights``), None for a random twin; ``init`` is ``checkpoint`` (the trained weights) or an
``app.models.freeze.INITS`` name (the twin).
``input`` is the input spec the file's metadata declares (TorchScript extra file ``filter_explorer.json``, ONNX
``metadata_props``, timm's ``pretrained_cfg``; a state dict's JSON sidecar or known-weights entry; metadata without
both ``mean`` and ``std`` is none, ``metadata_input``), unless the user declared one; a declared input without a size
takes the size the file fixes (its metadata's, else the static ONNX input shape, else timm's ``pretrained_cfg``). An
input copied from the metadata is re-read from the file at every build (a re-exported file's new spec wins, and its
``source`` says so). timm's ``crop_pct`` centre crop is not made (the app resizes the whole image to the size: one
preprocessing, ``app.models.inputs``): the input's ``source`` states it (``formats.crop_note``). A timm model's
options also keep ``in_chans`` / ``num_classes`` of its weights file, so that its random twin (which has no weights)
is the same architecture.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from app.models.base import ModelError
from app.models.external.backbone import ExternalBackbone
from app.models.external.formats import (TIMM_ARCH_ARGS, Loaded, ModelFileError, crop_note, detect, load,
                                         parse_metadata, read_metadata, read_size)
from app.models.external.twin import reinit, twin_label_note
from app.models.spec import ModelSpec

BACKBONE = "external"


STATS_KEYS = ("mean", "std")


def _given(meta: dict[str, Any], key: str) -> bool:
    return meta.get(key) not in (None, "", [], ())


def metadata_input(meta: dict[str, Any] | None, where: str):
    """The ``InputSpec`` a file's metadata declares, or None (no metadata, or metadata without a normalisation).

    A model file's metadata must give both ``mean`` and ``std`` to be an input spec: metadata with neither (only
    ``channels`` / ``size``) declares the shape but not how the images were normalised, so it is no input spec (the
    GUI asks for one, prefilled with that size; the command line uses the dataset's statistics at that size, and the
    input's ``source`` says so); one without the other is a ``ModelFileError`` naming the missing key. (The neutral
    statistics ``InputSpec.from_dict`` falls back to are for the app's own stored specs, never a file's.)"""
    from app.models.inputs import InputSpec, InputSpecError

    if not meta:
        return None
    meta = parse_metadata(meta, where)
    given = [k for k in STATS_KEYS if _given(meta, k)]
    if len(given) == 1:
        missing = next(k for k in STATS_KEYS if k not in given)
        raise ModelFileError(f"{where}: the input spec in its metadata gives {given[0]!r} but no {missing!r}: give "
                             f"both (how the images were normalised), or neither (the app then asks, or uses the "
                             f"dataset's statistics)")
    if not given:
        return None
    note = crop_note(meta)  # timm's centre crop (crop_pct), which the app's resize does not make: said, not applied
    try:
        return InputSpec.from_dict(meta, source=f"model metadata ({where})" + (f"; {note}" if note else ""))
    except InputSpecError as exc:
        raise ModelFileError(f"{where}: the input spec in its metadata is not usable ({exc})") from None


def metadata_shape(meta: dict[str, Any] | None, where: str) -> tuple[int | None, tuple[int, int] | None]:
    """(channels, (H, W)) a file's metadata states, each None when it does not (for metadata without a normalisation,
    which is no input spec: ``metadata_input``); ``ModelFileError`` for values that cannot be used."""
    from app.models.inputs import InputSpec, InputSpecError

    if not meta:
        return None, None
    meta = parse_metadata(meta, where)
    channels, size = meta.get("channels"), meta.get("size")
    if channels is None and size is None:
        return None, None
    try:
        shape = InputSpec(int(channels) if channels is not None else 3, size, (0.0,), (1.0,))
    except (InputSpecError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{where}: the input shape in its metadata is not usable ({exc})") from None
    return (shape.channels if channels is not None else None), shape.size


def metadata_size(source: str, fmt: str | None = None, weights: str | Path | None = None) -> tuple[int, int] | None:
    """The (H, W) a model file's metadata states, read without building the model (None when it states none or
    cannot be read here: the build says why)."""
    try:
        fmt = fmt or detect(source)
        return metadata_shape(read_metadata(str(source), fmt, weights), _where(str(source)))[1]
    except ModelError:
        return None


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
    arch = None
    if fmt == "state_dict":  # readable, and an architecture the app has: say so now, not at build time
        from app.models.external.formats import read_weights, state_dict_architecture

        if weights is not None:
            raise ModelFileError(f"{_where(source)}: a {fmt} file carries its own weights; --weights is for "
                                 f"timm:NAME")
        arch = state_dict_architecture(Path(source), read_weights(Path(source)))
        if arch.backbone == BACKBONE:  # a checkpoint the app trained of a model the user brought
            return _checkpoint_spec(arch, source, label=label, init=init, seed=seed, declared=declared,
                                    freeze=freeze)
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
    options: dict[str, Any] = {"source": source, "format": fmt}
    if fmt == "timm" and weights is not None:  # the architecture the weights fix (kept by the random twin)
        from app.models.external.formats import read_weights, timm_arch_args, unwrapped

        options.update(timm_arch_args(source[5:] if source.startswith("timm:") else source,
                                      unwrapped(read_weights(Path(weights)))))
    inp = declared
    if inp is None and trained and arch is not None:  # a state dict: what its sidecar / the known weights say
        from app.models.inputs import weights_input_spec

        inp = weights_input_spec(arch)
    elif inp is None and trained:
        inp = metadata_input(read_metadata(source, fmt, weights), _where(source))
    elif fmt == "onnx":
        read_metadata(source, fmt)  # the extra is there and the file is ONNX: say so now, not at build time
    if inp is not None and inp.size is None:  # declared without a size: the size the file fixes, when it does
        inp = _with_file_size(inp, source, fmt, weights)
    if fmt == "timm" and trained:  # the weights fit the architecture: say so now, not at build time
        load(source, fmt, weights)
    name = label or (_where(source) + ("" if trained else " (random twin)"))
    return ModelSpec.make(BACKBONE, label=name, options=options,
                          init=init if trained or init != "checkpoint" else "default",
                          weights=weights if trained else None, freeze=tuple(freeze), seed=int(seed),
                          weight_state="trained" if trained else "random", input=inp)


def _checkpoint_spec(arch: ModelSpec, path: str, *, label: str, init: str, seed: int, declared: Any,
                     freeze: tuple[str, ...]) -> ModelSpec:
    """The spec of a checkpoint the app wrote (``train``, ``save_checkpoint``) of a model the user brought: its
    sidecar's external spec (the model file as the architecture, this file as the weights, the input it was trained
    on), not a state dict wrapped around a second ``ExternalBackbone``."""
    opts = arch.kwargs
    source, fmt = str(opts.get("source") or ""), str(opts.get("format") or "")
    if not source or fmt not in ("torchscript", "onnx", "timm", "state_dict"):
        raise ModelFileError(f"{Path(path).name}: its sidecar's architecture names no model file (options.source "
                             f"and options.format)")
    if not source.startswith("timm:") and not Path(source).expanduser().is_file():
        raise ModelFileError(f"{Path(path).name}: a checkpoint of the model in {source}, which is not there (the "
                             f"checkpoint holds the weights; the architecture is that file's)")
    if fmt == "timm":  # the architecture the checkpoint's weights fix (a new classifier size): kept by the twin
        from app.models.external.formats import read_weights, timm_arch_args, unwrapped

        name = source[5:] if source.startswith("timm:") else source
        opts = {**opts, **timm_arch_args(name, unwrapped(read_weights(Path(path))))}
    inp = declared
    if inp is not None and inp.size is None:
        inp = _with_file_size(inp, source, fmt, path if fmt == "timm" else None)
    spec = dataclasses.replace(arch, options=tuple(sorted(opts.items())), init="checkpoint", weights=str(path),
                               weight_state="trained", seed=int(seed), freeze=tuple(freeze),
                               label=label or Path(path).name, input=inp if inp is not None else arch.input)
    return spec if init == "checkpoint" else twin_spec(spec, init, seed)


def checkpoint_weights(spec: ModelSpec) -> str | None:
    """The checkpoint whose weights go into the model of ``spec`` after its file is loaded: a trained spec's weights
    file when it is not the model file itself (a checkpoint the app trained of a TorchScript, ONNX or state-dict
    model); None otherwise (timm reads its weights file when it creates the model)."""
    opts = spec.kwargs
    source, fmt = opts.get("source"), opts.get("format")
    if spec.init != "checkpoint" or not spec.weights or fmt == "timm" or not source:
        return None
    a, b = Path(str(spec.weights)).expanduser(), Path(str(source)).expanduser()
    try:
        same = a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        same = str(a) == str(b)
    return None if same else str(spec.weights)


def _with_file_size(inp, source: str, fmt: str, weights: str | Path | None):
    """``inp`` (declared without a size) with the size the file fixes: its metadata's, else the static ONNX input
    shape, else timm's ``pretrained_cfg``; ``inp`` itself when the file fixes none."""
    try:
        meta = read_metadata(source, fmt, weights)
        meta = parse_metadata(meta, _where(source)) if meta else None
    except ModelFileError:
        meta = None
    size = meta.get("size") if meta else None
    where = f"model metadata ({_where(source)})"
    if size is None:
        found = read_size(source, fmt)
        size, where = found if found is not None else (None, "")
    if size is None:
        return inp
    try:
        return inp.with_(size=size, source=f"{inp.source}; size from {where}")
    except ValueError:  # a malformed size in the metadata: the declared input as it is
        return inp


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
    init = init or "default"
    seed = spec.seed if seed is None else int(seed)
    base = spec.label.split(" (random twin", 1)[0] or _where(str(spec.kwargs.get("source", "")))
    what = f"seed {seed}" if init == "default" else f"{init}, seed {seed}"
    note = twin_label_note(str(spec.kwargs.get("source", "")), spec.kwargs.get("format"))  # ONNX: folded batch norm
    what += f"; {note}" if note else ""
    # the same input spec as the trained model (declared, or its file's metadata): a comparison of the two differs
    # in the weights only
    return dataclasses.replace(spec, init=init, weights=None, weight_state="random", input=spec.input, seed=seed,
                               label=f"{base} (random twin, {what})")


def from_metadata(inp) -> bool:
    """``inp`` (a spec's input) was copied from the model file's metadata (not declared by the user)."""
    return inp is not None and str(getattr(inp, "source", "")).startswith("model metadata")


def fresh_input(stored, meta):
    """The input a build uses: ``stored`` (the spec's), except that one copied from the file's metadata is replaced by
    the metadata the file holds now (``meta``; None when it no longer has any): a re-exported file's normalisation,
    not the one saved with a session or a run; its ``source`` then says that the file changed."""
    if stored is None:
        return meta
    if isinstance(stored, dict):
        from app.models.inputs import InputSpec

        stored = InputSpec.from_dict(stored)
    if not from_metadata(stored):
        return stored
    if meta is None:
        return None
    if meta.with_(source="") != stored.with_(source=""):
        return meta.with_(source=f"{meta.source}; re-read: the file changed since the model was opened, "
                                 f"it was {stored.with_(source='').describe()}")
    return stored


def _loaded(spec: ModelSpec) -> tuple[Loaded, list[str]]:
    from app.models.build import SEED_LOCK

    opts = spec.kwargs
    source, fmt = opts.get("source"), opts.get("format")
    if not source:
        raise ModelError("an external model spec needs options.source (a file or timm:NAME)")
    trained = spec.init == "checkpoint"
    with SEED_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(spec.seed))
        arch = {k: opts[k] for k in TIMM_ARCH_ARGS if k in opts} if fmt == "timm" else None
        loaded = load(str(source), fmt, spec.weights if fmt == "timm" else None, trained=trained, arch=arch)
        left: list[str] = []
        if not trained:
            left = reinit(loaded.module, spec.init, int(spec.seed))
    return loaded, left


def _shape(meta, where: str, strict: bool) -> tuple[int | None, tuple[int, int] | None]:
    """``metadata_shape`` of a loaded file's metadata; (None, None) for unusable values when the input is declared."""
    try:
        return metadata_shape(meta, where)
    except ModelFileError:
        if strict:
            raise
        return None, None


def _load_checkpoint(model: ExternalBackbone, path: str, where: str) -> None:
    """Load the checkpoint ``path`` (``net.``-prefixed keys, as ``save_checkpoint`` writes an ``ExternalBackbone``;
    a plain state dict of the module fits too) into ``model``, strictly; a classifier replaced by the training run
    (``reset_classifier``) is replaced here too. ``ModelFileError`` naming both files when it does not fit."""
    from app.models.external.formats import WRAPPED
    from app.models.weights import WeightsError, load_into, read_state_dict

    name = Path(path).name
    try:
        state = read_state_dict(path)
        if state and not all(k.startswith(WRAPPED) for k in state):
            state = {WRAPPED + k: v for k, v in state.items()}
        with torch.no_grad():
            load_into(model, state, adapt_head=not model.script, name=name)
    except WeightsError as exc:
        raise ModelFileError(f"{name}: its weights do not fit the model in {where} (was the file changed since the "
                             f"checkpoint was trained?): {exc}") from None


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
    try:
        meta = metadata_input(loaded.metadata, where)
    except ModelFileError:
        if spec.input is None:
            raise
        meta = None  # a declared input does not need the file's (unusable) metadata
    inp = fresh_input(spec.input, meta)
    channels = fixed = None
    size = loaded.size_hint
    if loaded.static_input is not None:
        channels, size, fixed = loaded.static_input[0], loaded.static_input[1:], True
    shape = (None, None) if meta is not None else _shape(loaded.metadata, where, spec.input is None)
    if inp is None and shape != (None, None):  # metadata without a normalisation: its channels and size still hold
        channels, size = shape[0] or channels, shape[1] or size
    if inp is not None:  # a size the input leaves open: the metadata's, else the file's static / cfg size
        channels, size = inp.channels, (inp.size or (meta.size if meta is not None else None) or shape[1] or size)
    model = ExternalBackbone(loaded.module, fmt=loaded.fmt, source=str(spec.kwargs.get("source")),
                             label=spec.label or where, channels=channels, size=size, fixed=fixed,
                             batch=loaded.static_batch)
    model.untouched_by_init = left  # parameters the twin's re-initialisation left as they were
    model.input_meta = inp
    # the size a file's metadata states without a normalisation: ``app.models.inputs.input_spec`` feeds that size
    model.metadata_size = (shape[1], f"model metadata ({where})") if inp is None and shape[1] else None
    ckpt = checkpoint_weights(spec)
    if ckpt is not None:  # a checkpoint the app trained of this model: its weights, not the file's
        _load_checkpoint(model, ckpt, where)
    mark_always_frozen(model)
    for layer, bank in spec.banks:
        apply_bank(resolve_conv(model, layer), bank)
    froze = apply_freeze(model, spec.freeze)
    object.__setattr__(model, "fe_froze", froze)  # what each freeze entry froze: train prints it, as for the others
    model.to(device)
    model.eval()
    object.__setattr__(model, "fe_spec", spec)
    return model
