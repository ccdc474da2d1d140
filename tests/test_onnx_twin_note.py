"""An ONNX model's random twin is the exported graph's architecture: an export in eval mode folds batch norm into
the convolutions, so the twin has none. ``app.models.external.twin`` says so (``twin_note``) rather than unfolding:
for a graph with convolutions and no BatchNormalization node, or, when the graph cannot be read, for any ONNX twin.
The note logic needs no onnx; the exported-graph tests skip where ``onnx`` is not installed (the optional extra)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from app.models.external import twin


def test_a_graph_with_convs_and_no_batch_norm_gets_the_folded_note():
    assert twin.folded_bn_note(["Conv", "Relu", "GlobalAveragePool", "Flatten", "Gemm"]) == twin.FOLDED_BN
    assert twin.folded_bn_note({"ConvTranspose", "Add"}) == twin.FOLDED_BN
    assert "folds batch norm into the convolutions" in twin.FOLDED_BN
    assert "not the trained network's architecture" in twin.FOLDED_BN


def test_a_graph_that_keeps_its_batch_norm_or_has_no_convs_gets_none():
    assert twin.folded_bn_note(["Conv", "BatchNormalization", "Relu"]) == ""
    assert twin.folded_bn_note(["Gemm", "Relu"]) == ""  # an MLP: nothing to fold
    assert twin.folded_bn_note([]) == ""


def test_other_formats_get_no_note_and_an_unreadable_graph_the_possible_one(tmp_path):
    assert twin.twin_note(str(tmp_path / "m.pt"), "torchscript") == ""
    assert twin.twin_note("timm:resnet18", "timm") == ""
    assert twin.twin_label_note("timm:resnet18", "timm") == ""
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf at all")
    assert twin.twin_note(str(bad), "onnx") == twin.MAYBE_FOLDED_BN
    assert twin.twin_label_note(str(bad), "onnx") == twin.MAYBE_FOLDED_BN_LABEL
    assert twin.twin_note(str(tmp_path / "missing.onnx"), "onnx") == twin.MAYBE_FOLDED_BN


def _conv_bn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 3)).eval()


def _export(m: nn.Module, path, **kw):
    torch.onnx.export(m, (torch.zeros(1, 1, 8, 8),), str(path), dynamo=False, input_names=["x"],
                      output_names=["y"], **kw)
    return str(path)


def test_an_eval_mode_export_folds_the_batch_norm_and_the_twin_says_so(tmp_path):
    pytest.importorskip("onnx")
    path = _export(_conv_bn(), tmp_path / "folded.onnx")
    ops = twin.onnx_op_types(path)
    assert "Conv" in ops and "BatchNormalization" not in ops  # what the exporter does to a conv + BN
    assert twin.twin_note(path, "onnx") == twin.FOLDED_BN
    assert twin.twin_label_note(path, "onnx") == twin.FOLDED_BN_LABEL


def test_an_export_that_keeps_its_batch_norm_gets_no_note(tmp_path):
    pytest.importorskip("onnx")
    path = _export(_conv_bn(), tmp_path / "kept.onnx", training=torch.onnx.TrainingMode.PRESERVE,
                   do_constant_folding=False)
    assert "BatchNormalization" in twin.onnx_op_types(path)
    assert twin.twin_note(path, "onnx") == "" and twin.twin_label_note(path, "onnx") == ""


def test_batch_norm_inside_a_subgraph_counts(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 4, 4])
    branch = lambda op: helper.make_graph(  # noqa: E731
        [helper.make_node(op, ["x"], ["b"])], f"{op}_branch", [], [helper.make_tensor_value_info(
            "b", TensorProto.FLOAT, [1, 1, 4, 4])])
    cond = helper.make_tensor("c", TensorProto.BOOL, [], [True])
    nodes = [helper.make_node("Conv", ["x", "w"], ["h"]),
             helper.make_node("If", ["c"], ["y"], then_branch=branch("BatchNormalization"),
                              else_branch=branch("Relu"))]
    w = helper.make_tensor("w", TensorProto.FLOAT, [1, 1, 1, 1], [1.0])
    g = helper.make_graph(nodes, "g", [x], [y], initializer=[w, cond])
    path = tmp_path / "sub.onnx"
    onnx.save(helper.make_model(g), str(path))
    assert {"Conv", "If", "BatchNormalization", "Relu"} <= twin.onnx_op_types(str(path))
    assert twin.twin_note(str(path), "onnx") == ""
