"""An ONNX model's random twin says in its name that its graph has no batch norm (folded at export): the CLI, the
history and the Models list show that name."""
import pytest
import torch
from torch import nn


def _export(path, **kw):
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                      nn.Flatten(), nn.Linear(4, 3)).eval()
    torch.onnx.export(m, (torch.zeros(1, 1, 8, 8),), str(path), dynamo=False, input_names=["x"], **kw)
    return path


def test_an_onnx_twin_s_name_says_its_batch_norm_was_folded(tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnx2torch")
    from app.models import external as ext

    t = ext.twin_spec(ext.spec_for(_export(tmp_path / "folded.onnx")), "default", 2)
    assert t.label == "folded.onnx (random twin, seed 2; no batch norm in the ONNX graph, likely folded into its convs)"
    assert ext.twin_spec(t, "kaiming", 3).label.count("no batch norm") == 1  # a twin of a twin: said once
    kept = ext.spec_for(_export(tmp_path / "kept.onnx", training=torch.onnx.TrainingMode.PRESERVE))
    assert ext.twin_spec(kept, "default", 0).label == "kept.onnx (random twin, seed 0)"
