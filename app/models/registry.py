"""The backbone registry (timm's ``register_model`` pattern): one entry per name, filled by the decorator where each
backbone is defined; ``app.models`` imports every backbone module plainly, so importing anything from the package
fills it.

    @register_backbone("rdsn", "Random depthwise signed network ...")
    def rdsn(**kw) -> RDSN: ...

Each ``BackboneEntry`` is frozen and holds what is derived once, at registration: the user-settable ``options``
(``app.models.options.OptionField``, read from the factory and the class it returns) and ``params``, every keyword
the constructor accepts (seed, in_channels, input_size included; keywords the factory fixes itself excluded).

API: ``names()``, ``get(name) -> BackboneEntry``, ``create(name, **options)``, ``describe(name)``,
``option_fields(name)``, ``constructor_params(name)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from app.errors import UnknownNameError
from app.models.options import OptionField, fields_of


@dataclass(frozen=True)
class BackboneEntry:
    name: str
    factory: Callable[..., Any]
    description: str
    options: tuple[OptionField, ...]
    params: frozenset[str]


_ENTRIES: dict[str, BackboneEntry] = {}


def register_backbone(name: str, description: str = ""):
    """Register the decorated factory under ``name`` (a second registration of a name replaces the first)."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        desc = description or ((fn.__doc__ or "").strip().splitlines() or [""])[0]
        options, params = fields_of(fn)
        _ENTRIES[name] = BackboneEntry(name, fn, desc, options, params)
        return fn

    return deco


def names() -> list[str]:
    return list(_ENTRIES)


def get(name: str) -> BackboneEntry:
    try:
        return _ENTRIES[name]
    except KeyError:
        raise UnknownNameError(f"unknown backbone {name!r}; known: {', '.join(_ENTRIES)}") from None


def describe(name: str) -> str:
    e = _ENTRIES.get(name)
    return e.description if e is not None else ""


def create(name: str, **options: Any):
    return get(name).factory(**options)


def option_fields(name: str) -> list[OptionField]:
    """The user-settable constructor options of a backbone, in signature order."""
    return list(get(name).options)


def constructor_params(name: str) -> frozenset[str]:
    """Every keyword the backbone's constructor accepts (the probe decides from it whether it can set in_channels,
    input_size or seed)."""
    return get(name).params


def factories() -> dict[str, Callable[..., Any]]:
    """name -> factory (a copy)."""
    return {n: e.factory for n, e in _ENTRIES.items()}


# Every backbone module registers itself when imported; importing the registry imports them all (plainly, so a
# missing module is an ImportError). They import ``register_backbone`` from here, which is defined above.
from app.models import simple, rdsn, lenet, resnet_cifar, resnet18, patches, scattering  # noqa: E402,F401,I001  (registry order)
