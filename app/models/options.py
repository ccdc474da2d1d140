"""A backbone's user-settable options as typed fields, derived once from its constructor (at registration).

- ``fields_of(factory)`` -> ``(options, params)``: ``OptionField``s (name, kind, default, choices, tooltip) of the
  factory and the class it returns, in signature order, and every keyword the constructor accepts; a backbone's
  module may name its own tooltips (``OPTION_TIPS``, over the shared ``TOOLTIPS``) and the values of its text
  options (``OPTION_CHOICES``: shown as a list, not a free field);
- ``parse_option`` / ``format_option``: to and from the text a user types ("32, 64, 64");
- ``coerce_options(options, fields)``: values as the constructor wants them (a scalar for an "ints" option is a
  one-layer list: ``widths=12`` -> ``(12,)``; JSON lists -> tuples; a bool option written as a word -> a bool,
  ``flag``).
- ``flag(name, value)``: a bool option's value: a real bool, 0/1, or one of ``FLAG_WORDS`` (true/false, on/off, yes/no,
  1/0, any case); anything else is a ``ValueError`` naming the option and the accepted words (``create_model`` makes
  it a ``BuildError``; the command line's ``--options batchnorm=off`` used to turn batch-norm ON: a non-empty word is
  truthy).
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
import typing
from dataclasses import dataclass
from typing import Any, Callable, Mapping

HIDDEN_OPTIONS = {"seed", "chunk_bytes"}  # the seed is the spec's own field; chunking is an implementation detail

TOOLTIPS = {
    "in_channels": "Input channels: 1 for greyscale data (MNIST, digits), 3 for colour (CIFAR-10, webcam)",
    "widths": "Output channels of each conv layer, comma separated; the number of values is the depth",
    "kernel_size": "Kernel side in pixels (odd: 1, 3, 5, 7); one value for every layer or one per layer",
    "stride": "Convolution stride; one value for every layer or one per layer (2 halves the map)",
    "pool": "2x2 pooling after each layer but the last: max, avg or none (use stride instead)",
    "activation": "Non-linearity after each convolution (sign and abs are used by random-feature networks)",
    "batchnorm": "Batch-normalisation after each convolution (its affine weights can be trained alone)",
    "num_classes": "Width of the linear head (0: no head; the Probe trains its own)",
    "input_size": "Side of the square input the network is built for (pixels)",
    "k": "Number of random filters (channels) of the stem; the depthwise layers keep k channels",
    "blocks": "Number of [pool -> depthwise conv -> sign -> depthwise conv -> sign] blocks after the stem",
    "stem_kernel": "Kernel side of the stem convolution (empty: 5 for inputs up to 64 px, else 7)",
    "stem_padding": "Zero padding of the stem convolution in pixels (empty: half its kernel, maps keep the input's "
                    "size; Xue & Roshan's published code pads 1)",
    "deskew": "Deskew each image by its own moments before the first layer (centre of mass to the middle, slant "
              "sheared away; the classic MNIST pre-processing, meant for dark-background images such as digits; "
              "uses no dataset statistics)",
    "rotation_views": "Degrees a (0: off): the pooled features the Probe uses are the mean of the image's own and of "
                      "two copies rotated by -a and +a (each deskewed after its rotation when deskew is on); less "
                      "sensitive to small rotations, no dataset statistics, three times the extraction. The maps "
                      "shown are the image's own",
    "pool_grid": "Pool the last map over a g x g grid (1: global average) -> k x g^2 features",
    "bias": "Random biases on the convolutions",
    "expansion": "LC blocks: each 3x3 conv becomes c_out x E frozen random filters + a learned 1x1 mixing conv",
    "learn_spatial": "LC blocks: train the random 3x3 filters too (Gavrikov & Keuper's learned arm; off: frozen)",
    "width": "Channels of the first stage (doubled at each later stage)",
    "depth": "Number of layers (6n+2 for CIFAR ResNets)",
    "J": "Scattering: number of wavelet scales (log2 of the scale; maps are subsampled by 2^J; 2^J <= image side)",
    "L": "Scattering: number of wavelet orientations per scale (kymatio's design is tuned for 8)",
    "max_order": "Scattering: highest order computed, 1 or 2 (order 2: L^2 J(J-1)/2 more maps per input channel)",
}


@dataclass(frozen=True)
class OptionField:
    name: str
    kind: str  # int, float, bool, str, choice, ints (a list), int_or_ints, optional_int
    default: Any
    choices: tuple[str, ...] = ()
    tooltip: str = ""
    empty: str = "automatic"  # what an empty value means (an optional_int left blank): the module's OPTION_EMPTY


def _fixed_by_factory(fn: Callable) -> set[str]:
    """Keyword arguments the factory passes itself (``ResNetCifar(depth=20, **kw)``): not options."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return set()
    fixed = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg is not None:  # depth=20, depth=depth: set by the factory, not the user
                    fixed.add(kw.arg)
    return fixed


def _choices(module: Any, name: str) -> tuple[str, ...]:
    """The values a text option may take: the backbone module's ``OPTION_CHOICES[name]``, else its
    ``ACTIVATIONS`` / ``ACTS`` (activation) or ``POOLS`` (pool); () for a free value."""
    g = vars(module) if module is not None else {}
    own = g.get("OPTION_CHOICES")
    if isinstance(own, dict) and name in own:
        return tuple(own[name])
    if name == "activation":
        for key in ("ACTIVATIONS", "ACTS"):
            if isinstance(g.get(key), dict):
                return tuple(g[key])
    if name == "pool":
        if isinstance(g.get("POOLS"), (tuple, list)):
            return tuple(g["POOLS"])
        return ("avg", "max")
    return ()


def _kind(annotation: Any, default: Any) -> str:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    text = text.replace(" ", "")
    if isinstance(default, bool) or text == "bool":
        return "bool"
    if "tuple[int" in text or "list[int" in text:
        return "int_or_ints" if text.startswith("int|") or "|int" in text else "ints"
    if text in ("int|None", "None|int", "Optional[int]"):
        return "optional_int"
    if text == "float" or isinstance(default, float):
        return "float"
    if text == "int" or (isinstance(default, int)):
        return "int"
    return "str"


def _returned_class(fn: Callable) -> type | None:
    try:
        cls = typing.get_type_hints(fn).get("return")
    except Exception:  # an annotation that does not resolve: the factory's own signature is all there is
        cls = None
    return cls if inspect.isclass(cls) else None


def fields_of(fn: Callable) -> tuple[tuple[OptionField, ...], frozenset[str]]:
    """(user-settable options in signature order, every keyword the constructor accepts) of a registered factory."""
    fixed = _fixed_by_factory(fn)
    cls = _returned_class(fn)
    params: dict[str, inspect.Parameter] = {}
    accepted: set[str] = set()
    factory_params = list(inspect.signature(fn).parameters.values())
    takes_kw = any(p.kind == p.VAR_KEYWORD for p in factory_params)
    if cls is not None and takes_kw:
        for p in list(inspect.signature(cls.__init__).parameters.values())[1:]:
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                accepted.add(p.name)
                if p.default is not p.empty:
                    params[p.name] = p
    accepted -= fixed
    for p in factory_params:  # the factory's own arguments win (lc-resnet20: expansion)
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            accepted.add(p.name)
            if p.default is not p.empty:
                params[p.name] = p
                fixed.discard(p.name)
    module = sys.modules.get(getattr(cls, "__module__", "") or fn.__module__) if cls is not None \
        else sys.modules.get(fn.__module__)
    out = []
    for name, p in params.items():
        if name in HIDDEN_OPTIONS or name in fixed:
            continue
        default = p.default
        kind = _kind(p.annotation, default)
        choices = _choices(module, name)
        if choices and kind in ("str", "bool") and not isinstance(default, bool) or (choices and isinstance(default, str)):
            kind = "choice"
            if default is True:
                default = choices[0]
        own_tips = getattr(module, "OPTION_TIPS", None) if module is not None else None
        tip = (own_tips or {}).get(name) or TOOLTIPS.get(name, name.replace("_", " "))
        empty = (getattr(module, "OPTION_EMPTY", None) or {}).get(name, "automatic") if module is not None \
            else "automatic"
        shown = format_option(OptionField(name, kind, default, choices), default)
        out.append(OptionField(name, kind, default, choices, f"{tip} (default: {shown or empty})", empty))
    return tuple(out), frozenset(accepted)


FLAG_WORDS = {"true": True, "on": True, "yes": True, "1": True, "false": False, "off": False, "no": False, "0": False}


def flag(name: str, value: Any) -> bool:
    """A bool option's value: a bool as it is, the whole numbers 0 and 1, or a ``FLAG_WORDS`` word in any case;
    ``ValueError`` naming the option and the accepted words for anything else ("n", 2, a list ...)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in FLAG_WORDS:
        return FLAG_WORDS[value.strip().lower()]
    raise ValueError(f"{name} is on or off: give true/false, on/off, yes/no or 1/0 (got {value!r})")


def parse_option(f: OptionField, value: Any) -> Any:
    """Turn what the user entered into the constructor's value; ``ValueError`` with a readable message."""
    if f.kind == "bool":
        return flag(f.name, value)
    if f.kind == "choice":
        if value not in f.choices:
            raise ValueError(f"{f.name}: choose one of {', '.join(f.choices)}")
        return value
    text = str(value).strip()
    try:
        if f.kind == "int":
            return int(text)
        if f.kind == "float":
            return float(text)
        if f.kind == "optional_int":
            return None if text in ("", "auto", "None") else int(text)
        if f.kind in ("ints", "int_or_ints"):
            parts = [s for s in text.replace(";", ",").replace(" ", ",").split(",") if s]
            if not parts:
                raise ValueError
            vals = tuple(int(s) for s in parts)
            if f.kind == "int_or_ints" and len(vals) == 1:
                return vals[0]
            return vals
    except ValueError:
        want = {"int": "a whole number", "float": "a number", "optional_int": "a whole number or empty",
                "ints": "whole numbers separated by commas", "int_or_ints": "a whole number or a comma-separated list"}
        raise ValueError(f"{f.name}: {text!r} is not {want.get(f.kind, 'valid')}") from None
    return text


def format_option(f: OptionField, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (tuple, list)):
        return ", ".join(str(v) for v in value)
    return str(value)


def _whole(name: str, v: Any) -> Any:
    """A whole-number option written ``1e9`` (a float in JSON and TOML) or ``"12"`` -> int, so that the size limit
    sees it; ``ValueError`` naming the option for 1.5, inf or text (not the constructor's or torch's own text)."""
    if isinstance(v, float):
        if v.is_integer():
            return int(v)
        raise ValueError(f"{name} must be a whole number (got {v})")
    if isinstance(v, str):
        try:
            return int(v.strip())
        except ValueError:
            raise ValueError(f"{name} must be a whole number (got {v!r})") from None
    return v


def coerce_options(options: Mapping[str, Any], fields: tuple[OptionField, ...]) -> dict[str, Any]:
    """Options as the constructor takes them: lists -> tuples; a scalar for an "ints" option -> a 1-tuple; whole
    numbers written as floats (``k=1e9``) -> ints (``ValueError`` naming the option for 1.5 or text); a bool option
    -> a bool (``flag``: ``batchnorm=off`` is False; ``ValueError`` naming the option for any other word)."""
    kinds = {f.name: f.kind for f in fields}
    out = {}
    for k, v in options.items():
        if isinstance(v, list):
            v = tuple(v)
        kind = kinds.get(k)
        if kind == "bool":
            v = flag(k, v)
        if kind == "ints" and isinstance(v, (int, float, str)) and not isinstance(v, bool):
            v = (v,)
        if kind in ("int", "optional_int", "ints", "int_or_ints") and not isinstance(v, bool):
            v = tuple(_whole(k, x) for x in v) if isinstance(v, tuple) else _whole(k, v)
        out[k] = v
    return out
