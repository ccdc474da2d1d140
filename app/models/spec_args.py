"""``ModelSpec`` from the shared command-line arguments (``app.cliargs.add_model_arguments``): the one loading path
of ``train``, ``eval``, ``probe`` and the benchmarks.

With ``--weights`` and no ``--backbone``, the checkpoint's JSON sidecar (or the known-weights table) names the
backbone and its options (``app.models.build.spec_from_checkpoint``); given options override the sidecar's. A
declared input (``--input-size/--mean/--std/--input-preset``) goes into ``ModelSpec.input``.

With ``--model FILE`` (or ``timm:NAME`` + ``--weights``) the spec is an ``app.models.external`` one (backbone
``"external"``): its input spec comes from the declared arguments, else the file's metadata, else (None) the
dataset's own size and statistics; ``--init`` other than ``checkpoint`` asks for the random twin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.cliargs import floats, parse_options
from app.errors import AppError, UserError
from app.models.catalog import default_weight_state
from app.models.spec import ModelSpec


def declared_input(args: Any, channels: int | None = None):
    """The ``InputSpec`` the arguments declare, or None when they declare nothing."""
    from app.models.inputs import InputSpecError, declared, parse_size

    size_t = getattr(args, "input_size", None)
    mean = floats(getattr(args, "mean", None), "--mean")
    std = floats(getattr(args, "std", None), "--std")
    preset = getattr(args, "input_preset", None)
    if size_t is None and mean is None and std is None and preset is None:
        return None
    try:
        size = parse_size(size_t)
        if mean is None and std is None and preset is None:
            raise UserError("--input-size needs --mean and --std (or --input-preset) too: the input's "
                            "normalisation is part of what the weights expect")
        c = channels or (len(mean) if mean and len(mean) in (1, 3) else 3)
        return declared(c, size, mean, std, preset=preset)
    except InputSpecError as exc:
        raise UserError(str(exc)) from None


def model_spec_from_args(args: Any, label: str | None = None) -> ModelSpec:
    """The ``--model`` spec (see the module docstring)."""
    from app.models import external

    source = str(args.model)
    if getattr(args, "backbone", None):
        raise UserError("give either --model or --backbone, not both")
    if getattr(args, "options", None):
        raise UserError("--options sets a registry backbone's options; a --model file has its own architecture")
    weights = getattr(args, "weights", None)
    init = getattr(args, "init", None) or "checkpoint"
    freeze = tuple(getattr(args, "freeze", None) or ())
    seed = int(getattr(args, "model_seed", 0) or 0)
    try:
        fmt = external.detect(source)
        if weights and fmt != "timm":
            raise UserError(f"--weights is for --model timm:NAME; {Path(source).name} is a {fmt} "
                            f"file that carries its own weights")
        declared = None
        if any(getattr(args, k, None) is not None for k in ("input_size", "mean", "std", "input_preset")):
            declared = declared_input(args, channels=external.file_channels(source, fmt, weights))
        spec = external.spec_for(source, weights, fmt=fmt, label=label or "", init="checkpoint", seed=seed,
                                 declared=declared, freeze=freeze)
        if init != "checkpoint":
            spec = external.twin_spec(spec, init, seed)
    except UserError:
        raise
    except AppError as exc:
        raise UserError(f"--model {source}: {exc}") from None
    return spec


def spec_from_args(args: Any, label: str | None = None) -> ModelSpec:
    from app.models.build import spec_from_checkpoint

    if getattr(args, "model", None):
        return model_spec_from_args(args, label)
    if getattr(args, "weights_required", False) and not getattr(args, "weights", None):
        raise UserError("give --weights FILE (a checkpoint) or --model FILE (a model you bring)")
    from app.models.registry import names

    options = parse_options(getattr(args, "options", None))
    weights = getattr(args, "weights", None)
    freeze = tuple(getattr(args, "freeze", None) or ())
    seed = int(getattr(args, "model_seed", 0) or 0)
    backbone = getattr(args, "backbone", None)
    if weights:
        p = Path(weights).expanduser()
        if not p.is_file():
            raise UserError(f"--weights {weights}: no such file")
        weights = str(p)
    if backbone is None:
        if not weights:
            raise UserError("give --backbone (or --weights with a JSON sidecar that names it)")
        try:
            base = spec_from_checkpoint(weights)
        except AppError as exc:
            raise UserError(str(exc)) from None
        opts = dict(base.options)
        opts.update(options)
        spec = ModelSpec.make(base.backbone, label=label or base.label, options=opts, init="checkpoint",
                              weights=weights, freeze=freeze or base.freeze, seed=seed, weight_state="trained",
                              input=base.input)
    else:
        if backbone not in names():
            raise UserError(f"unknown backbone {backbone!r}; known: {', '.join(names())}")
        init = getattr(args, "init", None) or ("checkpoint" if weights else "default")
        base = None
        if weights:  # the sidecar (or known weights) also describes the architecture: read it with --backbone too
            try:
                base = spec_from_checkpoint(weights)
            except AppError:
                base = None
            if base is not None and base.backbone != backbone:
                raise UserError(f"--backbone {backbone}: the weights' sidecar says they are {base.backbone}")
        opts = dict(base.options) if base is not None else {}
        opts.update(options)
        spec = ModelSpec.make(backbone, label=label or (base.label if base else backbone), options=opts, init=init,
                              weights=weights, freeze=freeze, seed=seed,
                              weight_state="trained" if weights else default_weight_state(backbone),
                              input=base.input if base is not None else None)
    inp = declared_input(args)
    if inp is not None:
        import dataclasses

        spec = dataclasses.replace(spec, input=inp)
    return spec
