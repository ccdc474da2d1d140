"""The model seed decides every random weight of every backbone (#10); specs with banks rebuild exactly."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from app.models import registry
from app.models.build import build
from app.models.spec import ModelSpec

SMALL = {"rdsn": {"k": 16, "blocks": 1}, "simple": {"widths": [4, 8]}, "resnet18": {"num_classes": 0}}


def _params(m) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in m.state_dict().items() if v.is_floating_point()}


def _weights_of(name: str, model_seed: int, **extra) -> dict[str, torch.Tensor]:
    opts = {**SMALL.get(name, {}), **extra}
    return _params(build(ModelSpec.make(name, options=opts, seed=model_seed), device="cpu"))


# scattering: fixed wavelets, nothing random (tests/test_scattering.py checks that the model seed changes nothing)
@pytest.mark.parametrize("name", [n for n in registry.names() if n not in ("resnet56", "resnet110", "scattering")])
def test_two_model_seeds_differ_and_one_seed_repeats(name):
    a, b, a2 = _weights_of(name, 0), _weights_of(name, 1), _weights_of(name, 0)
    convs = [k for k, v in a.items() if v.dim() == 4]
    assert convs, name
    for k in convs:
        assert torch.equal(a[k], a2[k]), (name, k)
        assert not torch.equal(a[k], b[k]), (name, k)  # every random conv moves with the model seed


def test_rdsn_features_follow_the_model_seed():
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    feats = []
    for seed in (0, 1, 0):
        m = build(ModelSpec.make("rdsn", options=SMALL["rdsn"], seed=seed), device="cpu")
        with torch.no_grad():
            feats.append(m.forward_head(m.forward_features(x), pre_logits=True))
    assert torch.equal(feats[0], feats[2]) and not torch.equal(feats[0], feats[1])


def test_an_explicit_seed_option_wins():
    a = _weights_of("rdsn", 0, seed=5)
    b = _weights_of("rdsn", 1, seed=5)
    assert all(torch.equal(a[k], b[k]) for k in a)


def _bank_spec() -> ModelSpec:
    from app.kernels.bank import KernelBank

    w = np.random.default_rng(0).standard_normal((4, 1, 3, 3)).astype(np.float32) / 3
    bank = KernelBank(w, np.array([True, False, True, False]), name="hand", meta={"generator": "test"})
    return ModelSpec.make("simple", options={"widths": [4, 8], "in_channels": 1}, seed=3, banks=(("conv1", bank),))


def test_a_spec_with_a_bank_round_trips_through_json_and_rebuilds_exactly():
    spec = _bank_spec()
    d = json.loads(json.dumps(spec.to_dict()))
    b = d["banks"][0]
    assert b["layer"] == "conv1" and b["name"] == "hand" and b["shape"] == [4, 1, 3, 3] and len(b["sha256"]) == 64
    assert b["frozen"] == [True, False, True, False]
    back = ModelSpec.from_dict(d)
    layer, bank = back.banks[0]
    assert layer == "conv1" and np.array_equal(bank.weights, spec.banks[0][1].weights)  # float32 exact
    assert np.array_equal(bank.frozen, spec.banks[0][1].frozen)
    m1, m2 = build(spec, device="cpu"), build(back, device="cpu")
    for k, v in m1.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k]), k
    assert "weights" not in json.loads(spec.key())["banks"][0]  # cache keys carry the digest, not the values


def test_a_damaged_bank_record_is_refused():
    from app.models.base import ModelError

    d = json.loads(json.dumps(_bank_spec().to_dict()))
    d["banks"][0]["weights"][0][0][0][0] += 1.0
    with pytest.raises(ModelError, match="sha256"):
        ModelSpec.from_dict(d)
    d["banks"][0]["weights"] = "abc"
    with pytest.raises(ModelError, match="bank"):
        ModelSpec.from_dict(d)


def test_training_sidecar_keeps_the_banks(tmp_path):
    from app.models.train import TrainConfig, train
    from app.tasks import run_to_end
    from tests.test_models_train import TOY

    spec = _bank_spec()
    run_to_end(train(spec, TrainConfig(dataset="toy", epochs=1, batch_size=64, max_steps=2, out=str(tmp_path / "b")),
                     device="cpu", data=TOY))
    side = json.loads((tmp_path / "b.json").read_text())
    rebuilt = ModelSpec.from_dict(side["architecture"])
    assert np.array_equal(rebuilt.banks[0][1].weights, spec.banks[0][1].weights)


def test_train_bank_option_puts_a_bank_file_into_a_layer(tmp_path, capsys):
    import cv2

    from app.cli import run
    from app.kernels.io import save
    from tests.test_models_train import toy

    root = tmp_path / "imgs"
    for split, ds in (("train", toy(40, 2, 1, 8, 3)), ("test", toy(12, 3, 1, 8, 3))):
        for i, (img, y) in enumerate(zip(ds.images, ds.labels)):
            d = root / split / f"class{y}"
            d.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(d / f"{i:03d}.png"), img)
    spec = _bank_spec()
    save(spec.banks[0][1], tmp_path / "hand.json")
    code = run(["--threads", "1", "train", "--backbone", "simple", "--dataset", f"imagefolder:{root}", "--options",
                "widths=4,8", "in_channels=1", "--bank", f"conv1={tmp_path / 'hand.json'}", "--max-steps", "2",
                "--out", str(tmp_path / "c")])
    assert code == 0, capsys.readouterr().err
    side = json.loads((tmp_path / "c.json").read_text())
    bank = ModelSpec.from_dict(side["architecture"]).banks[0][1]
    assert np.array_equal(bank.weights, spec.banks[0][1].weights)
    from app.models.weights import read_state_dict

    trained = read_state_dict(tmp_path / "c.safetensors")["blocks.0.conv.weight"].numpy()
    frozen = spec.banks[0][1].frozen
    assert np.array_equal(trained[frozen], spec.banks[0][1].weights[frozen])  # frozen kernels stay bit-identical
    code = run(["train", "--backbone", "simple", "--dataset", "digits", "--bank", "conv1", "--out",
                str(tmp_path / "d")])
    assert code == 2 and "LAYER=FILE" in capsys.readouterr().err


def test_a_checkpoint_trained_from_a_bank_keeps_its_trained_and_frozen_kernels(tmp_path):
    from app.models.build import spec_from_checkpoint
    from app.models.train import TrainConfig, TrainStep, train
    from app.models.weights import read_state_dict
    from app.tasks import CancelToken, Cancelled, run_to_end
    from tests.test_models_train import TOY

    spec = _bank_spec()
    bank = spec.banks[0][1]
    out = tmp_path / "b"
    cfg = TrainConfig(dataset="toy", epochs=2, batch_size=64, out=str(out))
    token = CancelToken()
    with pytest.raises(Cancelled):
        for p in train(spec, cfg, device="cpu", cancel=token, data=TOY):
            if isinstance(p.payload, TrainStep) and p.payload.kind == "epoch":
                token.cancel()
    saved = read_state_dict(out.with_suffix(".safetensors"))["blocks.0.conv.weight"].numpy()
    loaded = spec_from_checkpoint(out.with_suffix(".safetensors"))  # what eval / train --resume use
    m = build(loaded, device="cpu")
    assert np.array_equal(m.blocks[0].conv.weight.detach().numpy(), saved)  # trained kernels are not reset
    assert not np.array_equal(saved[~bank.frozen], bank.weights[~bank.frozen])
    run_to_end(train(loaded, TrainConfig(dataset="toy", epochs=2, batch_size=64, out=str(out), resume=str(out)),
                     device="cpu", data=TOY))
    after = read_state_dict(out.with_suffix(".safetensors"))["blocks.0.conv.weight"].numpy()
    assert np.array_equal(after[bank.frozen], bank.weights[bank.frozen])  # still frozen after the resume
    assert not np.array_equal(after[~bank.frozen], saved[~bank.frozen])  # and the others still train
