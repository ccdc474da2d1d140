"""Command-line arguments every headless command shares, parsed one way everywhere.

- ``parse_options(items)``: ``--options`` as ``KEY=VALUE`` items (``widths=32,64 batchnorm=true``; ``widths=12`` is a
  one-value list where the option takes a list, see ``app.models.registry``) and/or JSON objects;
- ``add_data_root(parser)``: ``--data-root`` (``--root`` is the same option) -> ``args.data_root``;
- ``add_model_arguments(parser)``: ``--backbone --model --weights --options --init --model-seed --input-size --mean
  --std`` (and ``--input-preset``); ``--model FILE`` opens a model the user brings (TorchScript, ONNX, a state dict, or
  ``timm:NAME`` with ``--weights FILE``; see ``app.models.external``); ``app.models.spec_args.spec_from_args(args)``
  turns them into a ``ModelSpec`` through the one loading path (``app.models.build.spec_from_checkpoint`` reads the
  weights' JSON sidecar).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from app.errors import UserError


SEED_MAX = 2 ** 63 - 1  # torch.manual_seed and numpy take any whole number 0..this


def seed_value(text: str) -> int:
    """argparse ``type`` of every seed flag: a whole number from 0 to 2^63 - 1 (numpy and torch refuse the rest)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a seed is a whole number; got {text!r}") from None
    if not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"seed must be 0 or more (and below 2^63); got {value}")
    return value


def at_least_one(what: str):
    """argparse ``type`` of a whole number of at least 1 (``what``: "images", "images per batch"), refused at parse
    time: ``--test-limit 0`` scored the whole split and ``-5`` a random 9,995 images without a word."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number of {what}, got {text!r}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"must be a positive number of {what}, got {value}")
        return value

    parse.__name__ = "at least 1"  # argparse names the type in its own messages
    return parse


def parse_options(items: list[str] | str | None, what: str = "--options") -> dict[str, Any]:
    """``{"widths": [32, 64]}`` JSON objects and ``KEY=VALUE`` items, merged left to right."""
    if isinstance(items, str):
        items = [items]
    out: dict[str, Any] = {}
    for item in items or []:
        item = item.strip()
        if not item:
            continue
        if item.startswith("{"):
            try:
                d = json.loads(item)
            except ValueError as exc:
                raise UserError(f"{what}: not valid JSON ({exc})") from None
            if not isinstance(d, dict):
                raise UserError(f"{what}: the JSON must be an object")
            out.update(d)
            continue
        if "=" not in item:
            raise UserError(f"{what}: expected KEY=VALUE or a JSON object, got {item!r}")
        key, value = item.split("=", 1)
        key = key.strip().replace("-", "_")
        if not key:
            raise UserError(f"{what}: empty name in {item!r}")
        out[key] = parse_value(value.strip())
    return out


def parse_value(text: str) -> Any:
    """``true``/``false``/``none``, JSON numbers, lists and strings, ``a,b,c`` lists; anything else a string."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    if "," in text:
        return [parse_value(t.strip()) for t in text.split(",") if t.strip()]
    return text


def add_data_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", "--root", dest="data_root", default=None, metavar="DIR",
                        help="folder holding the datasets (default: the app's data folder)")


def add_model_arguments(parser: argparse.ArgumentParser, *, weights_required: bool = False,
                        backbone_help: str = "registry name (python main.py models list)") -> None:
    parser.add_argument("--backbone", default=None, help=backbone_help + "; default: from the weights' JSON sidecar")
    parser.add_argument("--model", default=None, metavar="FILE",
                        help="a model you bring: TorchScript (.pt/.ts/.pth from torch.jit.save), ONNX (.onnx, needs "
                             "pip install .[onnx]), a state dict of an architecture the app has, or timm:NAME with "
                             "--weights FILE (needs pip install .[timm]); --init other than checkpoint gives its "
                             "random twin")
    # weights_required: --weights or --model (checked by spec_from_args, so that --model FILE alone is enough)
    parser.set_defaults(weights_required=bool(weights_required))
    parser.add_argument("--weights", default=None,
                        help="a checkpoint (.safetensors with its JSON sidecar, or .pt/.pth/.th); with --model "
                             "timm:NAME, the timm model's weights")
    parser.add_argument("--options", nargs="*", default=None, metavar="OPT",
                        help="backbone options: KEY=VALUE items (widths=32,64 batchnorm=true) or a JSON object")
    parser.add_argument("--init", default=None,
                        help="initialisation: default, kaiming, gaussian[:std], uniform[:a], signed-constant, "
                             "orthogonal; with --weights (or --model) anything but checkpoint gives the checkpoint's "
                             "random twin: its architecture and input, initialised so, without its trained weights")
    parser.add_argument("--model-seed", type=seed_value, default=0, help="seed of the model's random weights (default 0)")
    parser.add_argument("--input-size", default=None, metavar="HxW",
                        help="the input size the weights expect (e.g. 32 or 224x224; default: the sidecar's, the "
                             "known weights', else the images' own)")
    parser.add_argument("--mean", default=None, metavar="M[,M,M]", help="input mean per channel, in [0, 1] units")
    parser.add_argument("--std", default=None, metavar="S[,S,S]", help="input std per channel, in [0, 1] units")
    parser.add_argument("--input-preset", default=None, choices=["imagenet", "cifar10", "mnist", "unit", "neutral"],
                        help="a named mean/std (imagenet, cifar10, mnist, unit = [0, 1], neutral = 0.5/0.25)")


def floats(text: str | None, what: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(v) for v in str(text).replace(" ", "").split(",") if v)
    except ValueError:
        raise UserError(f"{what}: expected comma-separated numbers, got {text!r}") from None


def out_file(path: str, what: str = "--out") -> str:
    """A file a command is asked to write (``--out FILE``), checked before any work: its folder must exist (a typo'd
    folder is refused, not created somewhere the user did not mean) and take a new file (``writable``), and the path
    must not be a folder. Returns ``path``."""
    from pathlib import Path

    p = Path(path).expanduser()
    if p.is_dir():
        raise UserError(f"{what} {path}: that is a folder; give a file name inside it")
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        what_is = "is a file, not a folder" if folder.exists() else "does not exist"
        raise UserError(f"{what} {path}: the folder {folder} {what_is}")
    writable(folder, f"{what} {path}")
    return path


def out_folder(path: str, what: str = "--out") -> str:
    """A folder a command writes files into (``--out DIR``, created if missing): not an existing file, the folder it
    goes in must exist, and the one written into must take a new file (``writable``: the folder itself where it
    exists, else the one it would be made in). Returns ``path``."""
    from pathlib import Path

    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise UserError(f"{what} {path}: that is a file, not a folder")
    parent = p.parent if str(p.parent) else Path(".")
    if not p.exists() and not parent.is_dir():
        what_is = "is a file, not a folder" if parent.exists() else "does not exist"
        raise UserError(f"{what} {path}: the folder {parent} {what_is}")
    writable(p if p.exists() else parent, f"{what} {path}")
    return path


def writable(folder, what: str) -> None:
    """Refuse (``UserError``) a folder in which no new file can be made: a temporary file is made there and removed
    at once, so that a command refuses before its work, not after it (a whole epoch of training, every cell of an
    experiment). The permission bits alone do not tell (root writes anywhere they say it may not; ``/proc`` takes no
    file whatever they say)."""
    import os
    import tempfile

    try:
        fd, tmp = tempfile.mkstemp(prefix=".fe-write-check-", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise UserError(f"{what}: cannot write in the folder {folder}: {exc.strerror or exc}") from None
    os.close(fd)
    try:
        os.unlink(tmp)
    except OSError:
        pass
