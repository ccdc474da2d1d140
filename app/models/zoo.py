"""The models the app offers out of the box: random backbones beside trained ones.

``default_specs()`` lists random ``rdsn``/``simple``/``resnet20``, the ``simple`` checkpoints shipped in
``resources/models/`` (trained with ``python main.py train``, see docs/benchmarks/models.md) and, when their files are
on this machine (``../shared/weights`` or downloaded into ``paths.user_files()/weights``), the trained ``resnet20``
(CIFAR-10) and ``lenet5`` (MNIST).
"""

from __future__ import annotations

from pathlib import Path

from app import paths
from app.models.spec import ModelSpec

SHIPPED = {
    # file stem in resources/models -> label
    "simple_mnist": "simple (trained, MNIST)",
    "simple_cifar10": "simple (trained, CIFAR-10)",
}


def shipped_dir() -> Path:
    return paths.RESOURCES / "models"


def shipped_specs() -> list[ModelSpec]:
    from app.models.build import spec_from_checkpoint

    out = []
    for stem, label in SHIPPED.items():
        p = shipped_dir() / f"{stem}.safetensors"
        if p.is_file() and p.with_suffix(".json").is_file():
            try:
                out.append(spec_from_checkpoint(p, label=label))
            except Exception:  # a damaged shipped file must not take the app down
                continue
    return out


def known_specs() -> list[ModelSpec]:
    from app.models.weights import KNOWN, find_known

    out = []
    for name, kw in KNOWN.items():
        p = find_known(name)
        if p is not None:
            out.append(ModelSpec.make(kw.backbone, label=kw.label, options=dict(kw.options), init="checkpoint",
                                      weights=str(p), weight_state="trained"))
    return out


def random_specs() -> list[ModelSpec]:
    return [
        ModelSpec.make("rdsn", label="rdsn (random)", options={}, weight_state="random"),
        ModelSpec.make("simple", label="simple (random)", options={}, weight_state="random"),
        ModelSpec.make("resnet20", label="resnet20 (random)", options={}, weight_state="random"),
    ]


def default_specs() -> list[ModelSpec]:
    """Random backbones first, then trained ones (shipped, then those found on this machine)."""
    return random_specs() + shipped_specs() + known_specs()
