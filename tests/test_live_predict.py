"""Live predictions (issue 12): a probe head stored at the end of a run predicts in Live's path exactly as the probe
scored; a trained model's own top-5; bad head files refused with the project's error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.data import load
from app.live.config import LiveConfig, PaneConfig
from app.live.engine import LiveEngine
from app.live.predict import Predictor, class_names, top_k
from app.models import inputs
from app.models.spec import ModelSpec
from app.probe.config import ProbeConfig
from app.probe.head_export import HeadFileError, list_heads, load_head, open_head
from app.probe.run import run_probe, test_split
from app.tasks import run_to_end

ROOT = Path(__file__).resolve().parent.parent
SIMPLE_MNIST = ROOT / "resources" / "models" / "simple_mnist.safetensors"


def _rgb(img: np.ndarray) -> np.ndarray:
    return np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory):
    spec = ModelSpec.make("simple", "simple (random)", options={"widths": (8, 16)})
    cfg = ProbeConfig(model=spec, dataset="digits", head="logistic", train_limit=300, test_limit=60, val=60,
                      grid=(1e-3,))
    return run_to_end(run_probe(cfg))


def _predicted(result) -> np.ndarray:
    """The probe's own argmax on its test split, from the stored result (misclassified rows and their labels)."""
    test = test_split(result.resolved)
    pred = np.asarray(test.labels, dtype=np.int64).copy()
    pred[np.asarray(result.misclassified, dtype=np.int64)] = np.asarray(result.mis_predicted, dtype=np.int64)
    return pred


def test_the_run_keeps_its_head_and_live_predicts_as_the_probe_scored(probe_run):
    result = probe_run
    path = Path(result.settings["head_file"])
    assert path.exists() and path.with_suffix(".npz").exists()
    head = load_head(path)
    assert head.classes == tuple(str(i) for i in range(10)) and head.size == (8, 8) and head.head == "logistic"
    assert head.W.shape == (10, result.n_features) and not head.W.flags.writeable
    assert head.layer == result.resolved.layer and head.pooling == result.resolved.pooling
    test = test_split(result.resolved)
    applier = open_head(path)
    # the head on the very images the probe scored: the same argmax for every image
    scores = applier.scores(test.images)
    assert np.array_equal(scores.argmax(1), _predicted(result))
    # and in Live's path: each test image as an RGB frame through the engine, one frame at a time
    engine = LiveEngine("cpu", open_head=open_head)
    pane = PaneConfig(head.backbone, head=str(path))
    live = []
    for img in test.images[:12]:
        lf = engine.process(_rgb(img), LiveConfig(panes=(pane,)))
        (pred,) = lf.panes[0].predictions
        assert pred.error is None and pred.kind == "head" and len(pred.top) == 5
        assert "8x8" in pred.note and "not this pane" not in pred.note
        live.append(int(pred.top[0][0]))
    assert live == list(_predicted(result)[:12])
    # the probabilities are the softmax of the head's scores (most probable first)
    p = np.exp(scores[11] - scores[11].max())
    p /= p.sum()
    assert pred.top[0][1] == pytest.approx(float(p.max()), rel=1e-4)
    assert [q for _, q in pred.top] == sorted((q for _, q in pred.top), reverse=True)


def test_stored_heads_are_listed_and_matched_by_backbone(probe_run):
    infos = list_heads()
    path = Path(probe_run.settings["head_file"])
    assert path in [i.path for i in infos]
    info = next(i for i in infos if i.path == path)
    applier = open_head(path)
    assert applier.matches(info.backbone)
    assert applier.matches(ModelSpec.from_dict({**info.backbone.to_dict(), "label": "another name"}))
    assert not applier.matches(ModelSpec.make("simple", "simple (random)"))


def test_knn_runs_keep_no_head():
    spec = ModelSpec.make("simple", "simple (random)", options={"widths": (8,)})
    cfg = ProbeConfig(model=spec, dataset="digits", head="knn", train_limit=100, test_limit=20, val=0)
    result = run_to_end(run_probe(cfg))
    assert "head_file" not in result.settings


def test_a_head_on_another_backbone_says_so(probe_run):
    engine = LiveEngine("cpu", open_head=open_head)
    other = ModelSpec.make("simple", "simple (random)")
    frame = np.zeros((60, 80, 3), np.uint8)
    lf = engine.process(frame, LiveConfig(panes=(PaneConfig(other, head=probe_run.settings["head_file"]),)))
    (pred,) = lf.panes[0].predictions
    assert pred.error is None and "not this pane's model" in pred.note
    assert "centre-cropped and resized to 8x8" in pred.note


def test_trained_model_top5_is_its_own_classifier_on_the_frame():
    from app.models.zoo import shipped_specs

    spec = next(s for s in shipped_specs() if s.weights and Path(s.weights).name == SIMPLE_MNIST.name)
    engine = LiveEngine("cpu")
    digits = load("digits", "test")
    frame = _rgb(digits.images[3])
    lf = engine.process(frame, LiveConfig(panes=(PaneConfig(spec, predict=True),)))
    r = lf.panes[0]
    assert r.error is None and r.classifier
    (pred,) = r.predictions
    assert pred.error is None and pred.kind == "model" and "28x28" in pred.note
    assert all(name in [str(i) for i in range(10)] for name, _ in pred.top) and len(pred.top) == 5
    # the same numbers as the model's own evaluation of that frame at its input size
    e = engine.entry(spec)
    x = inputs.to_tensor(frame[None], e.inp, "cpu", size=(28, 28))
    import torch

    with torch.inference_mode():
        s = e.model(x).float().numpy()[0]
    want = top_k(s, tuple(str(i) for i in range(10)))
    assert [n for n, _ in pred.top] == [n for n, _ in want]
    assert [q for _, q in pred.top] == pytest.approx([q for _, q in want], rel=1e-5)


def test_predictions_only_when_asked_and_random_models_say_why():
    engine = LiveEngine("cpu")
    spec = ModelSpec.make("simple", "simple (random)")
    frame = np.full((40, 40, 3), 128, np.uint8)
    r = engine.process(frame, LiveConfig(panes=(PaneConfig(spec),))).panes[0]
    assert r.predictions == () and not r.classifier
    r = engine.process(frame, LiveConfig(panes=(PaneConfig(spec, predict=True),))).panes[0]
    assert r.predictions[0].error and "probe head" in r.predictions[0].error
    assert r.mosaic is not None  # the maps go on


def test_class_names():
    assert class_names("digits", 10) == tuple(str(i) for i in range(10))
    assert class_names("cifar10", 10)[:2] == ("airplane", "automobile")
    assert class_names(None, 3) == ("class 0", "class 1", "class 2")
    assert class_names("imagefolder:/nowhere/cifar10-jpg", 10)[9] == "truck"  # a folder export of CIFAR-10
    assert class_names("imagefolder:/nowhere/my-pets", 2) == ("class 0", "class 1")
    assert class_names("mnist", 12)[10:] == ("class 10", "class 11")


# --- bad head files -------------------------------------------------------------------------------------------
def _copy_head(src: Path, dst: Path) -> Path:
    meta = json.loads(src.read_text())
    (dst / src.with_suffix(".npz").name).write_bytes(src.with_suffix(".npz").read_bytes())
    out = dst / src.name
    out.write_text(json.dumps(meta))
    return out


def test_bad_head_files_are_refused_by_name(probe_run, tmp_path):
    src = Path(probe_run.settings["head_file"])
    with pytest.raises(HeadFileError, match="no such probe head"):
        load_head(tmp_path / "run-missing.json")
    p = tmp_path / "run-bad.json"
    p.write_text("{not json")
    with pytest.raises(HeadFileError, match="run-bad.json: not a readable probe head"):
        load_head(p)
    p.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(HeadFileError, match="not a probe head"):
        load_head(p)
    good = _copy_head(src, tmp_path)
    meta = json.loads(good.read_text())
    good.write_text(json.dumps({k: v for k, v in meta.items() if k != "pooling"}))
    with pytest.raises(HeadFileError, match="'pooling' is missing"):
        load_head(good)
    good.write_text(json.dumps({**meta, "pooling": "grid99"}))
    with pytest.raises(HeadFileError, match="unknown pooling"):
        load_head(good)
    good.write_text(json.dumps(meta))
    npz = good.with_suffix(".npz")
    with np.load(npz) as z:
        arrays = {k: z[k] for k in z.files}
    np.savez(npz, **{**arrays, "b": arrays["b"][:3]})
    with pytest.raises(HeadFileError, match="inconsistent shapes"):
        load_head(good)
    bad_w = arrays["W"].copy()
    bad_w[0, 0] = np.nan
    np.savez(npz, **{**arrays, "W": bad_w})
    with pytest.raises(HeadFileError, match="'W' holds NaN"):
        load_head(good)
    npz.write_bytes(b"truncated")
    with pytest.raises(HeadFileError, match="not a readable array file"):
        load_head(good)
    npz.unlink()
    with pytest.raises(HeadFileError, match="weights .* are missing"):
        load_head(good)
    # in Live: the pane says what is wrong, its maps go on
    engine = LiveEngine("cpu", open_head=open_head)
    r = engine.process(np.zeros((8, 8, 3), np.uint8),
                       LiveConfig(panes=(PaneConfig(load_head(src).backbone, head=str(good)),))).panes[0]
    assert r.mosaic is not None and "weights" in r.predictions[0].error and "missing" in r.predictions[0].error


def test_no_opener_no_heads():
    p = Predictor("cpu", None)
    pred = p.head_prediction("/x/run-1.json", ModelSpec.make("simple"), np.zeros((8, 8, 3), np.uint8))
    assert pred.error == "probe head: this engine cannot open probe heads"


def test_session_requests_reach_listeners():
    from app.session import Session

    s = Session()
    got = []
    unsubscribe = s.subscribe(lambda kind, name: got.append((kind, name)))
    s.request("live-head", "/h/run-1.json")
    unsubscribe()
    s.request("live-head", "/h/run-2.json")
    assert got == [("live-head", "/h/run-1.json")] and s.models == {}


def test_a_checkpoints_own_classifier_is_named_by_the_classes_its_training_recorded(tmp_path):
    """An image folder's classes are its sorted sub-folders, read today: a folder added since training ("ant")
    shifted every name after it in Live's top-5 (an audit, 2026-12-03). The sidecar's ``classes`` (the classifier's
    outputs in order, written by training) come first."""
    import types

    from app.live.predict import classifier_classes

    folder = tmp_path / "pets"
    for name in ("ant", "cat", "dog", "zebra"):
        (folder / "train" / name).mkdir(parents=True)
    weights = tmp_path / "m.safetensors"
    weights.write_bytes(b"")
    side = {"architecture": {"backbone": "simple"}, "dataset": f"imagefolder:{folder}",
            "classes": ["cat", "dog", "zebra"]}
    (tmp_path / "m.json").write_text(json.dumps(side))
    spec = ModelSpec.make("simple", "mine", weights=str(weights))
    model = types.SimpleNamespace(num_classes=3)
    assert classifier_classes(spec, model) == ("cat", "dog", "zebra")
    side.pop("classes")  # an older checkpoint without them: the folder's, as before
    (tmp_path / "m.json").write_text(json.dumps(side))
    assert classifier_classes(spec, model) == ("ant", "cat", "dog")
