"""Fault injection (#15): a training run killed with SIGKILL at chosen points of its checkpoint save. The next
``--resume`` either refuses the set with a clear message (killed mid-save) or continues to the very weights of an
uninterrupted run (killed between saves)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from app.models.spec import ModelSpec
from app.models.train import TrainConfig, TrainError, train
from app.models.weights import read_state_dict
from app.tasks import run_to_end
from tests.test_models_train import TOY

ROOT = Path(__file__).resolve().parent.parent
SPEC = ModelSpec.make("simple", options={"in_channels": 1, "widths": [4]})
BASE = dict(batch_size=64, seed=1)

SCRIPT = r"""
import os, signal, sys
import torch
torch.set_num_threads(1)
import app.models.checkpoint as C
import app.models.weights as W
from app.models.spec import ModelSpec
from app.models.train import TrainConfig, TrainStep, train
from tests.test_models_train import TOY

point, out = sys.argv[1], sys.argv[2]
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
calls = {"w": 0, "m": 0}
w_write, m_write = W.atomic_write, C.atomic_write

def weights_write(path, data):
    calls["w"] += 1
    r = w_write(path, data)
    if (point, calls["w"]) in (("after-weights", 3), ("after-sidecar", 4)):
        die()
    return r

def manifest_write(path, data):
    calls["m"] += 1
    if point == "before-manifest" and calls["m"] == 2:
        die()
    return m_write(path, data)

W.atomic_write, C.atomic_write = weights_write, manifest_write
spec = ModelSpec.make("simple", options={"in_channels": 1, "widths": [4]})
for p in train(spec, TrainConfig("toy", epochs=3, out=out, batch_size=64, seed=1), device="cpu", data=TOY):
    r = p.payload
    if point == "mid-epoch" and isinstance(r, TrainStep) and r.kind == "step" and r.epoch == 3 and r.step == 12:
        die()
"""


def _killed_run(point: str, out: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", SCRIPT, point, str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == -9, (proc.returncode, proc.stderr[-2000:])


@pytest.mark.parametrize("point", ["after-sidecar"])  # the other points: test_models_robust (simulated)
def test_killed_while_saving_is_refused(tmp_path, point):
    out = tmp_path / "run"
    _killed_run(point, out)
    with pytest.raises(TrainError, match="inconsistent"):
        run_to_end(train(SPEC, TrainConfig("toy", epochs=3, out=str(out), resume=str(out), **BASE), device="cpu",
                         data=TOY))


def test_killed_between_saves_resumes_to_the_uninterrupted_weights(tmp_path):
    out = tmp_path / "run"
    _killed_run("mid-epoch", out)  # epochs 1 and 2 saved, killed during epoch 3
    resumed = run_to_end(train(SPEC, TrainConfig("toy", epochs=3, out=str(out), resume=str(out), **BASE),
                               device="cpu", data=TOY))
    full = run_to_end(train(SPEC, TrainConfig("toy", epochs=3, out=str(tmp_path / "full"), **BASE), device="cpu",
                            data=TOY))
    assert resumed.epochs_done == full.epochs_done == 3 and len(resumed.history) == 1  # only epoch 3 re-run
    a, b = read_state_dict(tmp_path / "full.safetensors"), read_state_dict(tmp_path / "run.safetensors")
    for k in a:
        assert np.allclose(a[k].numpy(), b[k].numpy(), atol=1e-6), k
    assert resumed.test_acc == full.test_acc
