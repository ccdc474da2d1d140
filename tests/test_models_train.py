"""Full training: frozen parameters stay bit-identical, progress/cancel/resume, the train/eval/list commands,
and the shared trained checkpoints' accuracy (marked ``shared``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from app.models import ModelSpec
from app.models.build import build
from app.models.evaluate import evaluate, load_split
from app.models.train import TrainConfig, TrainError, TrainStep, train
from app.tasks import CancelToken, Cancelled, run_to_end

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def toy(n: int, seed: int, channels: int = 1, size: int = 8, classes: int = 10):
    """A learnable in-memory dataset (no sklearn import): class c lights up row c % size, plus noise."""
    from app.data.core import ArrayDataset

    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n).astype(np.int64)
    imgs = rng.integers(0, 60, (n, size, size, channels)).astype(np.uint8)
    for i, c in enumerate(labels):
        imgs[i, c % size, :, :] = 255
        if c >= size:
            imgs[i, :, 0, :] = 255
    return ArrayDataset("toy", "train", imgs, labels, tuple(str(i) for i in range(classes)), (0.3,) * channels,
                        (0.3,) * channels)


TOY = (toy(320, 0), toy(128, 1))


def _bytes(t: torch.Tensor) -> bytes:
    return t.detach().cpu().contiguous().numpy().tobytes()


def test_frozen_layers_and_bank_kernels_stay_bit_identical(tmp_path):
    from app.kernels.bank import KernelBank

    w = np.random.default_rng(1).normal(size=(8, 1, 3, 3)).astype(np.float32)
    frozen = np.array([True, False, True, False, True, True, False, False])
    bank = KernelBank(w, frozen, name="edges")
    spec = ModelSpec(backbone="simple", options=(("batchnorm", True), ("in_channels", 1), ("widths", (8, 16, 16))),
                     banks=(("conv1", bank),), freeze=("conv2", "blocks.1.bn.*"), seed=0)
    model = build(spec, device="cpu")
    model.reset_classifier(10)
    frozen_before = {n: _bytes(p) for n, p in model.named_parameters() if n.startswith("blocks.1.")}
    bank_before = model.blocks[0].conv.weight.detach().clone()
    others_before = {n: _bytes(p) for n, p in model.named_parameters() if n.startswith("blocks.2.")}
    bn_stats_before = _bytes(model.blocks[1].bn.running_mean)
    cfg = TrainConfig(dataset="toy", epochs=1, optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=5e-3,
                      batch_size=32, train_limit=160, test_limit=64, max_steps=5, val=16)
    seen = []
    result = run_to_end(train(spec, cfg, device="cpu", model=model, data=TOY), seen.append)
    steps = [p.payload for p in seen if isinstance(p.payload, TrainStep) and p.payload.kind == "step"]
    assert len(steps) == 5 and all(np.isfinite(s.loss) for s in steps)
    assert result.epochs_done == 1 and result.test_acc is not None
    for n, p in model.named_parameters():
        if n in frozen_before:
            assert _bytes(p) == frozen_before[n], f"{n} changed"
            assert not p.requires_grad
    assert _bytes(model.blocks[1].bn.running_mean) == bn_stats_before  # a frozen BN stays in eval mode
    after = model.blocks[0].conv.weight.detach()
    for i in range(8):
        same = _bytes(after[i]) == _bytes(bank_before[i])
        assert same == bool(frozen[i]), f"kernel {i}: frozen={frozen[i]} but same={same}"
    assert any(_bytes(p) != others_before[n] for n, p in model.named_parameters() if n in others_before)


def test_adamw_trains_and_nothing_to_train_is_an_error():
    spec = ModelSpec.make("simple", options={"in_channels": 1, "widths": [8, 16]}, freeze=("all", "!head"))
    cfg = TrainConfig(dataset="toy", epochs=3, optimizer="adamw", lr=3e-2, batch_size=32)
    result = run_to_end(train(spec, cfg, device="cpu", data=TOY))
    assert result.trainable == 16 * 10 + 10  # only the new head
    full = run_to_end(train(ModelSpec.make("simple", options={"in_channels": 1, "widths": [8, 16]}), cfg,
                            device="cpu", data=TOY))
    assert full.test_acc > 0.5, full.test_acc  # it learns (chance is 0.1)
    with pytest.raises(TrainError, match="every parameter is frozen"):
        run_to_end(train(ModelSpec.make("rdsn", options={"k": 8, "in_channels": 1}, freeze=("head",)), cfg,
                         device="cpu", data=TOY))


def test_training_cancels_between_steps():
    token = CancelToken()
    gen = train(ModelSpec.make("simple", options={"in_channels": 1, "widths": [4]}),
                TrainConfig(dataset="toy", epochs=3, batch_size=16), device="cpu", cancel=token, data=TOY)
    for p in gen:
        if isinstance(p.payload, TrainStep):
            token.cancel()
            break
    with pytest.raises(Cancelled):
        next(gen)


def test_checkpoint_each_epoch_and_resume(tmp_path):
    spec = ModelSpec.make("simple", options={"in_channels": 1, "widths": [8, 16], "batchnorm": True})
    base = dict(dataset="toy", batch_size=64, train_limit=256, test_limit=128, seed=3, augment=True)
    out = tmp_path / "run"
    # two epochs straight through ...
    full = run_to_end(train(spec, TrainConfig(epochs=2, out=str(tmp_path / "full"), **base), device="cpu", data=TOY))
    # ... equal one epoch, an interruption (cancel), then a resume for the second
    token = CancelToken()
    gen = train(spec, TrainConfig(epochs=2, out=str(out), **base), device="cpu", cancel=token, data=TOY)
    with pytest.raises(Cancelled):
        for p in gen:
            if isinstance(p.payload, TrainStep) and p.payload.kind == "epoch":
                token.cancel()
    side = json.loads((tmp_path / "run.json").read_text())
    assert side["architecture"]["backbone"] == "simple" and side["epoch"] == 1 and side["dataset"] == "toy"
    assert side["input"]["channels"] == 1 and side["input"]["size"] == [8, 8]
    assert (tmp_path / "run.state.pt").is_file()
    resumed = run_to_end(train(spec, TrainConfig(epochs=2, out=str(out), resume=str(out), **base), device="cpu",
                               data=TOY))
    assert resumed.epochs_done == 2
    from app.models.weights import read_state_dict

    a, b = read_state_dict(tmp_path / "full.safetensors"), read_state_dict(tmp_path / "run.safetensors")
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=1e-5), k
    with pytest.raises(TrainError, match="state.pt"):
        run_to_end(train(spec, TrainConfig(epochs=2, resume=str(tmp_path / "absent"), **base), device="cpu",
                         data=TOY))


@pytest.fixture
def image_folder(tmp_path):
    """A tiny image folder with train/ and test/ (PNG files), for the commands without sklearn or ../shared."""
    import cv2

    root = tmp_path / "imgs"
    for split, ds in (("train", toy(90, 2, 3, 8, 3)), ("test", toy(30, 3, 3, 8, 3))):
        for i, (img, y) in enumerate(zip(ds.images, ds.labels)):
            d = root / split / f"class{y}"
            d.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(d / f"{i:03d}.png"), img)
    return root


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    from app.cli import run

    code = run(["--threads", "1", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_train_eval_and_list_commands(tmp_path, image_folder, capsys, monkeypatch):
    monkeypatch.setenv("FILTER_EXPLORER_HOME", str(tmp_path / "home"))
    out = tmp_path / "ck"
    ds = f"imagefolder:{image_folder}"
    code, so, se = _cli(capsys, "train", "--backbone", "simple", "--dataset", ds, "--epochs", "2", "--options",
                        "widths=8,16", "batchnorm=true", "--freeze", "conv1", "--batch-size", "16", "--out", str(out))
    assert code == 0, se
    assert "final test accuracy:" in so and "epoch 2:" in so and "trainable" in so
    import re

    from app.data import load
    from app.metrics import spread_text

    n = len(load(ds, "test"))  # the figure says how many images it is on, and its sampling error
    shown = re.search(r"final test accuracy: ([0-9.]+)% on (\S+) test images \((.*)\)", so)
    right = round(float(shown.group(1)) / 100 * n)  # the count of right images behind the percentage
    assert int(shown.group(2).replace(",", "")) == n and shown.group(3) == spread_text(right / n, n)
    side = json.loads((tmp_path / "ck.json").read_text())
    assert side["architecture"]["options"]["widths"] == [8, 16] and side["architecture"]["freeze"] == ["conv1"]
    code, so, se = _cli(capsys, "eval", "--weights", str(out) + ".safetensors", "--dataset", ds)
    assert code == 0, se
    assert "top-1" in so and "(30 images)" in so
    code, so, se = _cli(capsys, "train", "--dataset", ds, "--epochs", "3", "--resume", str(out), "--batch-size", "16",
                        "--out", str(out))
    assert code == 0, se
    assert "epoch 3:" in so and "epoch 1:" not in so
    code, so, _ = _cli(capsys, "models", "list")
    assert code == 0 and "rdsn" in so and "lc-resnet20" in so and "resnet18" in so
    # a new run into ``out`` is refused (it would overwrite the run above): these refusals are about other arguments
    other = tmp_path / "other"
    code, _, se = _cli(capsys, "train", "--backbone", "simple", "--dataset", ds, "--freeze", "layr9", "--out",
                       str(other))
    assert code == 2 and "matches no parameter" in se
    code, _, se = _cli(capsys, "eval", "--backbone", "resnet20", "--weights", str(out) + ".safetensors",
                       "--dataset", ds)  # the sidecar names the backbone: a clash is refused before any loading
    assert code == 2 and "sidecar says they are simple" in se
    bare = out.parent / "bare.safetensors"  # the same weights without their sidecar
    bare.write_bytes(Path(str(out) + ".safetensors").read_bytes())
    code, _, se = _cli(capsys, "eval", "--backbone", "resnet20", "--weights", str(bare), "--dataset", ds)
    assert code == 2 and "does not fit" in se and "missing keys" in se
    code, _, se = _cli(capsys, "train", "--backbone", "simple", "--dataset", ds, "--options", "{bad", "--out",
                       str(other))
    assert code == 2 and "not valid JSON" in se


# --- the shared trained checkpoints reach their published accuracy ------------------------------------------
@pytest.mark.shared
@pytest.mark.slow
def test_shared_lenet5_scores_on_mnist(shared):
    path = shared("weights", "lenet5_mnist.pt")
    shared("datasets", "MNIST", "raw")
    from app.models.zoo import known_specs

    spec = next(s for s in known_specs() if s.backbone == "lenet5")
    assert Path(spec.weights) == path
    model = build(spec, device="cpu")
    res = run_to_end(evaluate(model, load_split("mnist", "test", 2000, None, 0)))
    assert res.n == 2000 and res.top1 >= 0.98, res.top1


@pytest.mark.shared
@pytest.mark.slow
def test_shared_resnet20_scores_on_cifar_jpegs(shared, cifar_jpeg_root):
    path = shared("weights", "resnet20_cifar10-12fca82f.th")
    import cv2

    from app.data.core import ArrayDataset

    # the first 200 test images of each class (decoding all 10,000 would dominate the test's time)
    classes = sorted(p.name for p in (cifar_jpeg_root / "test").iterdir())
    imgs, labels = [], []
    for ci, c in enumerate(classes):
        for f in sorted((cifar_jpeg_root / "test" / c).glob("*.jpg"))[:200]:
            imgs.append(cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB))
            labels.append(ci)
    test = ArrayDataset("cifar10-jpg", "test", np.stack(imgs), np.array(labels), tuple(classes))
    spec = ModelSpec.make("resnet20", options={"num_classes": 10}, init="checkpoint", weights=str(path))
    model = build(spec, device="cpu")
    res = run_to_end(evaluate(model, test))
    assert res.n == 2000 and res.top1 >= 0.77, res.top1


def test_evaluate_refuses_a_head_of_another_size():
    from app.models.base import ModelError

    model = build(ModelSpec.make("simple", options={"in_channels": 1, "widths": [4]}), device="cpu")
    with pytest.raises(ModelError, match="no classes"):
        run_to_end(evaluate(model, TOY[1]))
    model.reset_classifier(3)
    with pytest.raises(ModelError, match="has 3 classes"):
        run_to_end(evaluate(model, TOY[1]))
