"""Live sees the pixels every other path sees: for each registered backbone, a frame through ``LiveEngine``'s
pre-processing is exactly ``app.models.inputs.to_tensor`` with the pane's input spec (issue #9)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app.live.config import LiveConfig, PaneConfig
from app.live.engine import LiveEngine, build_model, fit_size
from app.models import inputs, registry
from app.models.spec import ModelSpec

# options that keep every backbone small enough for a test
SMALL = {
    "simple": {"widths": (4, 6)},
    "rdsn": {"k": 8, "blocks": 1},
    "resnet20": {"width": 4},
    "resnet32": {"width": 4},
    "lc-resnet20": {"width": 4},
}
FRAME = np.random.default_rng(3).integers(0, 256, (90, 120, 3), dtype=np.uint8)
PROC = (48, 64)  # the processing size: the frame (90x120) is shrunk to it (48x64 keeps its 3:4 aspect)


@pytest.mark.parametrize("name", registry.names())
def test_live_input_is_inputs_to_tensor_for_every_backbone(name):
    eng = LiveEngine("cpu")
    spec = ModelSpec.make(name, options=SMALL.get(name, {}))
    model, ispec = build_model(spec, torch.device("cpu"))
    assert ispec == inputs.input_spec(spec, model, stats=None)
    assert ispec.mean == (inputs.NEUTRAL_MEAN,) * ispec.channels  # random weights, no dataset: neutral statistics
    fixed = inputs.model_input(model)[1]
    size = fixed or fit_size(FRAME.shape[:2], PROC)  # its fixed size, else the processing size
    # a fixed-size model takes the frame's centre at its aspect (lenet5: the middle 90x90 of the 90x120 frame), as
    # its Top-5 does; stretched, a 3:4 frame was squashed
    ref = inputs.to_tensor(inputs.crop_to_aspect(FRAME, size)[None] if fixed else FRAME[None], ispec, size=size)
    with torch.inference_mode():
        x = eng.prepare(FRAME, ispec, size, crop=bool(fixed))
        # and the tensor the pane's forward pass gets inside process()
        seen = {}
        e = eng.entry(spec)
        real = eng.forward

        def spy(entry, t, layer, *rest):
            seen["x"] = t.clone()
            return real(entry, t, layer, *rest)

        eng.forward = spy
        lf = eng.process(FRAME, LiveConfig(panes=(PaneConfig(spec, 0, 0, 4),), size=PROC))
    assert lf.panes[0].error is None, lf.panes[0].error
    assert e.inp == ispec
    for got in (x, seen["x"]):
        assert got.shape == ref.shape
        assert torch.equal(got.contiguous(), ref), float((got - ref).abs().max())
    if name == "lenet5":
        assert ispec.channels == 1 and ref.shape == (1, 1, 32, 32)  # its fixed size, grey
    else:
        assert ref.shape[-2:] == PROC


def test_trained_weights_bring_their_own_statistics(tmp_path):
    declared = inputs.declared(3, (32, 32), preset="cifar10")
    spec = ModelSpec.make("simple", options={"widths": (4,)})
    from dataclasses import replace

    spec = replace(spec, input=declared)
    _, ispec = build_model(spec, torch.device("cpu"))
    assert ispec.mean == inputs.PRESETS["cifar10"][0] and ispec.source == "declared"
    eng = LiveEngine("cpu")
    ref = inputs.to_tensor(FRAME[None], ispec, size=PROC)
    assert torch.equal(eng.prepare(FRAME, ispec, PROC).contiguous(), ref)
    # trained at 32x32, but fully convolutional: Live shows it the video at the processing size, like the others
    with torch.inference_mode():
        lf = eng.process(FRAME, LiveConfig(panes=(PaneConfig(spec, 0),), size=PROC))
    assert lf.panes[0].error is None and lf.panes[0].map_size[0] > 32


def test_fit_size_keeps_the_aspect():
    assert fit_size((480, 640), (180, 240)) == (180, 240)
    assert fit_size((28, 28), (180, 240)) == (180, 180)  # a square dataset sample stays square
    assert fit_size((1080, 1920), (180, 240)) == (135, 240)
    assert fit_size((50, 70), (0, 0)) == (50, 70)
