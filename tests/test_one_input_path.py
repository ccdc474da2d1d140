"""One input spec, one preprocessing (issue #9): the same image, through the train, eval, probe and live paths of
every backbone, reaches the model as the identical tensor.

Each path is run for real and the tensor entering the model is captured at the model's own entry points
(``forward`` for train and eval, ``forward_intermediates`` / ``extract_pooled`` for the probe's extraction, the
engine's forward for Live)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from app.data import ArrayDataset
from app.models import inputs
from app.models.build import build
from app.models.registry import names
from app.models.spec import ModelSpec

SMALL = {"rdsn": {"k": 8, "blocks": 1}, "simple": {"widths": [4, 4]}, "resnet18": {"stem": "cifar"},
         "lc-resnet20": {"expansion": 1}}
IMAGE = np.random.default_rng(7).integers(0, 256, (1, 40, 48, 3), dtype=np.uint8)


def _spy(model, seen: list) -> None:
    """Record the first argument of every entry point of ``model`` (an instance attribute shadows the method)."""
    for name in ("forward", "forward_intermediates", "extract_pooled"):
        real = getattr(model, name, None)
        if real is None:
            continue

        def wrapped(x, *a, _real=real, **k):
            seen.append(x.detach().clone())
            return _real(x, *a, **k)

        object.__setattr__(model, name, wrapped)


def _dataset(n_classes: int) -> ArrayDataset:
    imgs = np.repeat(IMAGE, 2, axis=0)
    return ArrayDataset("same-image", "train", imgs, np.array([0, 1 % n_classes], dtype=np.int64),
                        tuple(str(i) for i in range(n_classes)), (0.45, 0.5, 0.55), (0.2, 0.25, 0.3))


@pytest.mark.parametrize("name", [n for n in names()])
def test_the_same_image_reaches_the_model_as_the_same_tensor_on_every_path(name):
    from app.live.config import LiveConfig, PaneConfig
    from app.live.engine import LiveEngine
    from app.models.evaluate import predict
    from app.models.train import TrainConfig, train
    from app.probe import extract as ex
    from app.tasks import run_to_end

    spec = ModelSpec.make(name, options=SMALL.get(name, {}))
    model = build(spec, device="cpu")
    ds = _dataset(10)
    ispec = inputs.input_spec(spec, model, stats=inputs.dataset_stats(ds))
    size = inputs.model_input(model)[1] or (40, 48)
    ref = inputs.to_tensor(IMAGE, ispec, size=size)

    seen_eval: list = []
    _spy(model, seen_eval)
    run_to_end(predict(model, IMAGE, ispec, "cpu"))
    assert seen_eval and torch.equal(seen_eval[0], ref), name

    seen_probe: list = []
    m2 = build(spec, device="cpu")
    _spy(m2, seen_probe)
    run_to_end(ex.extract(m2, IMAGE, ispec, 0, "gap", device="cpu"))
    assert seen_probe and torch.equal(seen_probe[-1], ref), name

    if name not in ("lenet5",):  # train: one step, no augmentation, the batch is the whole (2-image) dataset
        seen_train: list = []
        m3 = build(spec, device="cpu")
        if getattr(m3, "num_classes", 0) != 10:
            m3.reset_classifier(10)
        _spy(m3, seen_train)
        cfg = TrainConfig(dataset="same-image", epochs=1, batch_size=2, augment=False, max_steps=1, val=0)
        try:
            run_to_end(train(spec, cfg, model=m3, data=(ds, ds)))
        except Exception as exc:  # nothing to train (rdsn is frozen by construction)
            if "frozen" not in str(exc) and "nothing to train" not in str(exc):
                raise
        else:
            assert seen_train, name
            ref2 = inputs.to_tensor(np.repeat(IMAGE, 2, axis=0), ispec, size=size)
            assert torch.equal(seen_train[0], ref2), name

    eng = LiveEngine("cpu")
    seen_live: dict = {}
    real = eng.forward

    def spy(entry, t, layer, *rest):
        seen_live["x"] = t.detach().clone()
        return real(entry, t, layer, *rest)

    eng.forward = spy
    with torch.inference_mode():
        e = eng.entry(spec)
        # Live has no dataset: give its entry the same spec as the other paths to compare the preprocessing itself
        object.__setattr__(e, "inp", ispec) if hasattr(e, "__dataclass_fields__") else setattr(e, "inp", ispec)
        lf = eng.process(IMAGE[0], LiveConfig(panes=(PaneConfig(spec, 0, 0, 4),), size=(40, 48)))
    assert lf.panes[0].error is None, lf.panes[0].error
    if inputs.model_input(model)[1]:  # a fixed-size model: Live takes the frame's centre at its aspect first (a video frame is
        # never squashed; the dataset paths resize their images as they are)
        ref = inputs.to_tensor(inputs.crop_to_aspect(IMAGE[0], size)[None], ispec, size=size)
    assert torch.equal(seen_live["x"].contiguous(), ref), (name, float((seen_live["x"] - ref).abs().max()))
