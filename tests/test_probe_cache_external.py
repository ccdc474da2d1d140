"""The probe's feature cache and a model file re-exported at the same path (an audit's finding): a TorchScript file's
program is not in its state_dict, so a ReLU net re-exported with tanh (the same parameters) got the ReLU net's
cached features back ("feature_cache_hit": true) and its figures, stored in the history as the tanh net's."""

from __future__ import annotations

import json
import os

import torch
from torch import nn


class _Net(nn.Module):
    def __init__(self, act: str) -> None:
        super().__init__()
        torch.manual_seed(0)  # the same parameters for both activations
        self.act = act
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 16, 3, padding=1)  # the probed layer: its input is the activation's output
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = torch.relu(self.c1(x)) if self.act == "relu" else torch.tanh(self.c1(x))
        return self.fc(self.c2(x).mean((2, 3)))


def _export(act: str, path) -> None:
    torch.jit.save(torch.jit.trace(_Net(act).eval(), torch.zeros(1, 1, 8, 8)), str(path))


def test_a_model_file_rewritten_in_place_is_extracted_again(tmp_path, fe_home):
    from tests.cli_inprocess import run_cli

    path = tmp_path / "net.pt"
    args = ("--threads", "1", "probe", "--dataset", "digits", "--model", str(path), "--head", "ridge", "--grid", "1",
            "--test-limit", "100", "--json")
    _export("relu", path)
    first = run_cli(*args, home=fe_home)
    assert first.returncode == 0, first.stderr
    again = run_cli(*args, home=fe_home)
    assert json.loads(again.stdout)["feature_cache_hit"] is True  # the same file: reused
    st = path.stat()
    _export("tanh", path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # even with the old time stamp (a copy that keeps it)
    second = run_cli(*args, home=fe_home)
    assert second.returncode == 0, second.stderr
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    assert b["feature_cache_hit"] is False
    assert (a["val_top1"], a["top1"]) != (b["val_top1"], b["top1"])
