"""A model's random twin: the same architecture and input, default random weights (no checkpoint, no banks). The
baseline of every Insight view and what ``--init X`` beside ``--weights`` builds (``app.models.spec_args``).

- ``twin_input(spec)``: the input the twin keeps (declared, or carried by the weights);
- ``random_twin(spec)``: the twin's spec.
"""

from __future__ import annotations

import dataclasses

from app.errors import AppError


def twin_input(spec):
    """The input ``spec``'s twin keeps: the declared one, else the one its weights carry (a sidecar's, or the
    known-weights table's: the official ResNet-20's 32x32 with ImageNet statistics, LeNet-5's MNIST statistics),
    which is lost once the weights are dropped; None when neither declares one (the twin then resolves its input
    from the dataset, as the model itself does)."""
    if spec.input is not None or not spec.weights:
        return spec.input
    from app.models.inputs import weights_input_spec

    try:
        return weights_input_spec(spec)
    except AppError:  # an unreadable sidecar: the model itself fails to build, and says why
        return None


def random_twin(spec):
    """``spec``'s architecture and input (declared, or carried by its weights: ``twin_input``), default random
    weights (no checkpoint, no banks)."""
    label = spec.label or spec.backbone
    keep = twin_input(spec)
    if spec.backbone == "external":  # a model file: named by the file ("net.pt (random twin)")
        return dataclasses.replace(spec, weights=None, init="default", banks=(), weight_state="random", input=keep,
                                   label=f"{label.split(' (random twin', 1)[0]} (random twin)")
    inner = label[len(spec.backbone) + 2:-1] if label.startswith(spec.backbone + " (") and label.endswith(")") \
        else label
    return dataclasses.replace(spec, weights=None, init="default", banks=(), weight_state="random", input=keep,
                               label=f"{spec.backbone} (random twin: {inner})")
