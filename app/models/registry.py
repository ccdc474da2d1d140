"""The backbone registry (timm's ``register_model`` pattern): one entry per name, filled by the decorator where each
backbone is defined; ``app.models`` imports every backbone module plainly.

    @register_backbone("rdsn", "Random depthwise signed network ...")
    def rdsn(**kw) -> RDSN: ...

API: ``names()``, ``get(name) -> BackboneEntry``, ``create(name, **options)``, ``describe(name)``,
``option_fields(name)`` (the constructor's user-settable options, derived once), ``constructor_params(name)``.

NOTE (foundation commit): this module is the interface; it still delegates to ``app.models.base`` until the models
consolidation moves the registry here.
"""

from __future__ import annotations

from app.models.base import ModelError, create, describe, names, register  # noqa: F401

register_backbone = register


def option_fields(name: str):
    from app.models.viz import option_fields as _of

    return _of(name)


def constructor_params(name: str) -> frozenset[str]:
    return frozenset(f.name for f in option_fields(name)) | {"seed", "in_channels", "input_size"} & _all_params(name)


def _all_params(name: str) -> set[str]:
    import inspect
    import typing

    from app.models import base

    base._load_all()
    fn = base._REGISTRY[name]
    out = set(inspect.signature(fn).parameters)
    try:
        cls = typing.get_type_hints(fn).get("return")
    except Exception:
        cls = None
    if inspect.isclass(cls):
        out |= set(inspect.signature(cls.__init__).parameters)
    return out
