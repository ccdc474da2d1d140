"""The backbones" names and one-line descriptions, without importing torch.

``python main.py models list`` and ``--help`` texts read this table so that they start instantly; the registry
(``app.models.registry``, filled by ``@register_backbone`` where each backbone is defined) is the truth, and
``tests/test_perf_start.py`` fails when the two differ (add a line here when you register a backbone).
"""

from __future__ import annotations

BACKBONES: dict[str, str] = {
    "simple": "A configurable plain CNN: depth, widths, kernel size, stride or pooling, activation, batch-norm",
    "rdsn": "Random depthwise signed network (Xue & Roshan): N(0,1) weights, sign activations, never trained; "
        "k up to 100,000 features by channel chunks",
    "lenet5": "LeNet-5 (1x32x32), keys of the shared MNIST checkpoint (convnet.c1 ... fc.f7)",
    "resnet20": "CIFAR ResNet-20 (He et al.), option-A shortcuts; loads akamaster's official resnet20-*.th "
        "CIFAR-10 checkpoint",
    "resnet32": "CIFAR ResNet-32 (He et al.), option-A shortcuts; loads akamaster's official resnet32-*.th "
        "CIFAR-10 checkpoint",
    "resnet44": "CIFAR ResNet-44 (He et al.), option-A shortcuts; loads akamaster's official resnet44-*.th "
        "CIFAR-10 checkpoint",
    "resnet56": "CIFAR ResNet-56 (He et al.), option-A shortcuts; loads akamaster's official resnet56-*.th "
        "CIFAR-10 checkpoint",
    "resnet110": "CIFAR ResNet-110 (He et al.), option-A shortcuts; loads akamaster's official resnet110-*.th "
        "CIFAR-10 checkpoint",
    "lc-resnet20": "ResNet-20 with LC blocks (Gavrikov & Keuper): random 3x3 convs (c_out*E filters, frozen, or "
        "learned with learn_spatial) + learned 1x1 convs; expansion E selectable",
    "resnet18": "ResNet-18 with torchvision's key names (loads torchvision ImageNet checkpoints); stem='cifar' "
        "for 32 px inputs",
    "patches": "Data-dependent single layer (Coates & Ng; Thiry et al.): k filters from training patches (random, "
        "whitened or k-means centroids), triangle / split +-ReLU / soft-threshold / nearest-filters encoder, grid "
        "pooling; fitted on the training split only",
    "scattering": "2-D wavelet scattering (Mallat; kymatio's Scattering2D): fixed Morlet wavelets, orders 0-2, J "
        "scales, L orientations, per input channel; data-independent",
}

# The two families of issue 13. data-independent: no filter sees the data (random or hand-designed filters; input
# whitening statistics and feature standardisation are allowed and stated). data-dependent: the filters are fitted
# on training images (no labels). trainable: networks meant to be trained end to end; with random weights (no
# checkpoint) they are data-independent too.
FAMILIES: dict[str, str] = {
    "simple": "data-independent",
    "rdsn": "data-independent",
    "patches": "data-dependent",
    "scattering": "data-independent",
}
# backbones whose filters are designed, with nothing random (no seed changes them): without a checkpoint their
# weight state is "hand-designed", not "random" (``default_weight_state``)
DESIGNED: frozenset[str] = frozenset({"scattering"})
# backbones whose filters are fitted to training images (no labels): their weight state is "fitted", not "random"
FITTED: frozenset[str] = frozenset({"patches"})


def default_weight_state(name: str) -> str:
    """The weight state of backbone ``name`` built without a checkpoint: "hand-designed", "fitted" or "random"."""
    if name in DESIGNED:
        return "hand-designed"
    return "fitted" if name in FITTED else "random"


def bank_state(banks) -> str:
    """The weight state of a model whose filters come from kernel banks (no checkpoint): "fitted" when a bank is
    patches of a dataset (the kernel kind ``patches``: data-dependent, drawn from the whole training split,
    validation images included), else "hand-designed". ``banks``: banks or (layer, bank) pairs."""
    for item in banks or ():
        bank = item[1] if isinstance(item, tuple) else item
        if (getattr(bank, "meta", None) or {}).get("generator") == "patches":
            return "fitted"
    return "hand-designed"


def stored_weight_state(model: dict) -> str:
    """The weight state of a stored model spec (a run's ``model`` dict). Runs stored before designed and fitted
    backbones had their own state say "random" (or nothing) for them: read as ``default_weight_state`` instead, so
    a scattering or patches run is never shown as random filters."""
    state = str(model.get("weight_state") or "random")
    if state == "random" and not model.get("weights"):
        return default_weight_state(str(model.get("backbone") or ""))
    return state


FAMILY_TIPS = {
    "data-independent": "data-independent: random or hand-designed filters, no filter sees the data",
    "data-dependent": "data-dependent: filters fitted on training patches (no labels; never validation or test; "
                      "a kernel bank of dataset patches is drawn from the whole training split, validation "
                      "included)",
    "trainable": "trainable: learned end to end from a checkpoint; with random weights it is data-independent",
    "trained": "trained: weights learned end to end on labelled data (the reference the families are compared with)",
}


def family(name: str, trained: bool = False, state: str | None = None) -> str:
    """The family of backbone ``name``: data-dependent (``patches``, or a model in weight ``state`` "fitted": a bank
    of dataset patches), trained (weights learned on labels) or data-independent (every random backbone)."""
    if trained or state == "trained":
        return "trained"
    if state == "fitted":
        return "data-dependent"
    return FAMILIES.get(name, "data-independent")


def family_label(name: str) -> str:
    """How ``models list`` names a backbone's family (a network meant for training says both)."""
    return FAMILIES.get(name, "trainable")
