"""``ModelSpec`` from the shared command-line arguments (``app.cliargs.add_model_arguments``): the one loading path
of ``train``, ``eval``, ``probe`` and the benchmarks.

With ``--weights`` and no ``--backbone``, the checkpoint's JSON sidecar (or the known-weights table) names the
backbone and its options (``app.models.build.spec_from_checkpoint``); given options override the sidecar's. A
declared input (``--input-size/--mean/--std/--input-preset``) goes into ``ModelSpec.input``.

With ``--model FILE`` (or ``timm:NAME`` + ``--weights``) the spec is an ``app.models.external`` one (backbone
``"external"``): its input spec comes from the declared arguments, else the file's metadata, else (None) the
dataset's own size and statistics; ``--init`` other than ``checkpoint`` asks for the random twin. So it does with
``--weights`` (``checkpoint_twin``: the checkpoint's architecture and input, no trained weights, ``weight_state``
random; not on ``train --resume``, which compares ``--init`` with its run's). ``--init`` is checked before anything
is loaded (``check_init``).

A checkpoint's banks (its sidecar's, marked ``in_weights``) stay in the spec, so their frozen kernels stay frozen when
the model trains further; a ``--bank LAYER=FILE`` replaces that layer's bank only (the caller adds the file's bank:
``app.models.cli.with_banks``, ``app.probe.cli.parse_banks``). Each ``--bank`` is checked against the model's
layers before any dataset is loaded (``check_bank_items``; the probe checks its own where the weights fix the
architecture).
"""

from __future__ import annotations

import dataclasses
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
        counts = {what: len(v) for what, v in (("--mean", mean), ("--std", std)) if v is not None}
        for what, n in counts.items():  # 2 or 4 values were averaged into one per channel without a word
            if n not in (1, 3) and n != channels:
                raise UserError(f"{what}: give 1 value (the same for every channel) or one per input channel (3: R, "
                                f"G, B), got {n}")
        if len(set(counts.values())) > 1:
            raise UserError(f"--mean has {counts['--mean']} value(s) but --std has {counts['--std']}: give both the "
                            f"same number")
        c = channels or (len(mean) if mean and len(mean) in (1, 3) else 3)
        return declared(c, size, mean, std, preset=preset)
    except InputSpecError as exc:
        raise UserError(str(exc)) from None


def given_options(backbone: str, options: dict[str, Any]) -> dict[str, Any]:
    """``--options`` with each on/off option of ``backbone`` as a bool (``batchnorm=off`` -> False), so that the spec,
    the run's comparison on resume and the sidecar hold what the model was built with; a ``UserError`` naming the
    option and the accepted words for any other value (``app.models.options.flag``). Other options are left to the
    build (``app.models.build.create_model``), which reports them with the model."""
    from app.models import registry
    from app.models.options import flag

    if backbone not in registry.names():
        return dict(options)
    kinds = {f.name: f.kind for f in registry.get(backbone).options}
    out = dict(options)
    for name, value in options.items():
        if kinds.get(name) == "bool":
            try:
                out[name] = flag(name, value)
            except ValueError as exc:
                raise UserError(f"--options: {backbone}: {exc}") from None
    return out


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


def spec_from_args(args: Any, label: str | None = None, check_bank_args: bool = True) -> ModelSpec:
    """The spec (see the module docstring). ``check_bank_args``: check the ``--bank`` items against it here (False:
    the caller's architecture is not final yet, e.g. a probe's random backbone takes the dataset's channels)."""
    from app.models.build import spec_from_checkpoint

    init = getattr(args, "init", None)
    if init is not None:
        check_init(init)
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
        opts.update(given_options(base.backbone, options))
        spec = ModelSpec.make(base.backbone, label=label or base.label, options=opts, init="checkpoint",
                              weights=weights, freeze=freeze or base.freeze, seed=seed, weight_state="trained",
                              input=base.input, banks=base.banks)
        if wants_twin(args):
            spec = checkpoint_twin(spec, init, seed, freeze, label, scored=args)
    else:
        if backbone not in names():
            raise UserError(f"unknown backbone {backbone!r}; known: {', '.join(names())}")
        init = init or ("checkpoint" if weights else "default")
        base = None
        if weights:  # the sidecar (or known weights) also describes the architecture: read it with --backbone too
            try:
                base = spec_from_checkpoint(weights)
            except AppError:
                base = None
            if base is not None and base.backbone != backbone:
                raise UserError(f"--backbone {backbone}: the weights' sidecar says they are {base.backbone}")
        opts = dict(base.options) if base is not None else {}
        opts.update(given_options(backbone, options))
        spec = ModelSpec.make(backbone, label=label or (base.label if base else backbone), options=opts, init=init,
                              weights=weights, freeze=freeze, seed=seed,
                              weight_state="trained" if weights else default_weight_state(backbone),
                              input=base.input if base is not None else None,
                              banks=base.banks if base is not None else ())
        if weights and wants_twin(args):  # not the checkpoint's init loaded over by its weights: its random twin
            spec = checkpoint_twin(dataclasses.replace(spec, init="checkpoint"), init, seed, freeze, label, scored=args)
    inp = declared_input(args)
    if inp is not None:
        spec = dataclasses.replace(spec, input=inp)
    return check_bank_items(spec, getattr(args, "bank", None)) if check_bank_args else spec


def check_init(init: str) -> None:
    """``--init``'s value checked before anything is loaded (a ``UserError`` naming the known ones): with ``--weights``
    it was dropped unread, ``--init bogus`` scoring the checkpoint without a word. The one reader of the names and
    their numbers is ``app.models.freeze.apply_init`` (on a model without layers here: nothing is changed)."""
    from torch import nn

    from app.models.freeze import apply_init

    try:
        apply_init(nn.Module(), str(init))
    except AppError as exc:
        raise UserError(f"--init: {exc}") from None


def wants_twin(args: Any) -> bool:
    """``--init`` other than ``checkpoint`` beside ``--weights`` asks for the checkpoint's random twin, as it does with
    ``--model``; except on ``train --resume``, whose weights are the run's own checkpoint and whose ``--init`` is
    compared with that run's (``app.models.cli.cmd_train``)."""
    init = getattr(args, "init", None)
    return bool(init) and init.strip().lower() != "checkpoint" and not getattr(args, "resume", None)


def checkpoint_twin(trained: ModelSpec, init: str, seed: int, freeze: tuple[str, ...] = (),
                    label: str | None = None, scored: Any = None) -> ModelSpec:
    """The random twin of a registry backbone's checkpoint: its architecture (the sidecar's options, any given ones)
    and the input its weights carry (``app.models.twins.twin_input``), initialised by ``init`` at ``seed``; no trained
    weights, no banks (``weight_state`` random). Its name says whose twin it is. ``scored``: the arguments of a
    command that scores the model's own classifier (``eval``: ``weights_required``), refused (a registry backbone's
    classifier is made by training, and the twin has none)."""
    from app.models.twins import twin_input

    if getattr(scored, "weights_required", False):
        name = Path(trained.weights).name
        raise UserError(f"--init {init} with --weights gives the checkpoint's random twin (its architecture, no "
                        f"trained weights), which has no trained classifier to score; leave out --init to score "
                        f"{name} (probe --weights {name} --init {init} trains a head on the twin's features)")

    what = f"seed {seed}" if init == "default" else f"{init}, seed {seed}"
    return dataclasses.replace(trained, init=init, weights=None, weight_state="random", banks=(), seed=seed,
                               freeze=tuple(freeze), input=twin_input(trained),
                               label=label or f"{trained.backbone} (random twin of {Path(trained.weights).name}, "
                                              f"{what})")


def bank_items(items) -> list[tuple[str, Path]]:
    """``--bank LAYER=FILE`` items as (layer, path with ``~`` expanded); a ``UserError`` for a malformed one."""
    out = []
    for item in items or ():
        layer, sep, path = str(item).partition("=")
        if not sep or not layer.strip() or not path.strip():
            raise UserError(f"--bank: expected LAYER=FILE (e.g. conv1=edges.json), got {item!r}")
        out.append((layer.strip(), Path(path.strip()).expanduser()))
    return out


def check_bank_items(spec: ModelSpec, items) -> ModelSpec:
    """``check_banks`` for ``--bank LAYER=FILE`` items (their files loaded here: one that does not load is a
    ``KernelFileError`` naming it)."""
    pairs = bank_items(items)
    if not pairs or spec.backbone == "external":
        return spec
    from app.kernels.io import load

    return check_banks(spec, [(layer, load(path), f"{layer}={path}") for layer, path in pairs])


def check_banks(spec: ModelSpec, banks) -> ModelSpec:
    """``spec`` without the checkpoint banks that the given ones replace (the same conv, by whatever name), after
    checking each (layer, bank, label): its layer exists and the bank fits it, on a bare model of the architecture (no
    weights: milliseconds, where the same refusal came after the dataset had loaded). A model that cannot be
    created here is left to the build, which says why."""
    import torch

    from app.models.build import SEED_LOCK, apply_bank, create_model, resolve_conv, seeded_options

    if not banks or spec.backbone == "external":
        return spec
    try:
        with SEED_LOCK, torch.random.fork_rng(devices=[]):  # the process-wide generator is left as it was
            model = create_model(spec.backbone, seeded_options(spec))
    except Exception:  # noqa: BLE001  (bad options, limits: the build reports them with their context)
        return spec
    replaced = set()
    for layer, bank, label in banks:
        try:
            conv = resolve_conv(model, layer)
            apply_bank(conv, bank)
        except AppError as exc:
            raise UserError(f"--bank {label}: {exc}") from None
        replaced.add(id(conv))

    def kept(layer: str) -> bool:
        try:
            return id(resolve_conv(model, layer)) not in replaced
        except AppError:
            return True  # the build says what is wrong with it

    return dataclasses.replace(spec, banks=tuple((layer, b) for layer, b in spec.banks if kept(layer)))
