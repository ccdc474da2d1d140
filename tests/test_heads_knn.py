"""k-NN head: votes, the retrieval figures beside accuracy, one distance computation for every k."""

from __future__ import annotations

import numpy as np
import pytest

from app.probe.heads import knn_neighbours, knn_scores, train_knn
from app.tasks import run_to_end

# 1-D training points (standardize off, so distances are plain differences)
XTR = np.array([[0.0], [1.0], [2.0], [10.0], [11.0], [30.0]], np.float32)
YTR = np.array([0, 0, 1, 1, 1, 0])
XTE = np.array([[0.4], [10.6]], np.float32)
YTE = np.array([0, 1])


def test_knn_votes_and_retrieval_by_hand():
    res = run_to_end(train_knn(XTR, YTR, XTE, YTE, 2, {"k": 3, "standardize": False}))
    # query 0.4: neighbours 0 (0.4), 1 (0.6), 2 (1.6), 10, 11, 30 -> labels 0 0 1 1 1 0
    # query 10.6: 11 (0.4), 10 (0.6), 2 (8.6), 1, 0, 30 -> labels 1 1 1 0 0 0
    assert res.scores.argmax(1).tolist() == [0, 1]
    assert res.scores[0, 0] == pytest.approx(2 + 1e-3 * (1 + 1 / 2)) and res.scores[0, 1] == pytest.approx(1 + 1e-3 / 3)
    e = res.extra
    assert e["precision@1"] == pytest.approx(1.0)
    assert e["precision@5"] == pytest.approx((2 / 5 + 3 / 5) / 2)
    assert e["precision@10"] == pytest.approx((3 / 10 + 3 / 10) / 2)
    ap0 = (1 + 1 + 3 / 6) / 3  # relevant (label 0) at ranks 1, 2, 6
    ap1 = 1.0  # relevant at ranks 1, 2, 3
    assert e["mAP"] == pytest.approx((ap0 + ap1) / 2)
    assert res.stop == {"criterion": "none", "value": None, "tolerance": None, "iterations": 0, "converged": True}
    quiet = run_to_end(train_knn(XTR, YTR, XTE, YTE, 2, {"k": 3, "standardize": False, "retrieval": False}))
    assert quiet.extra == {} and np.array_equal(quiet.scores, res.scores)


def test_knn_neighbour_labels_serve_every_k():
    labels, per_query = run_to_end(knn_neighbours(XTR, YTR, XTE, {"standardize": False}, 5))
    assert labels.tolist() == [[0, 0, 1, 1, 1], [1, 1, 1, 0, 0]]
    assert per_query == {}
    for k in (1, 3, 5):
        one = run_to_end(train_knn(XTR, YTR, XTE, YTE, 2, {"k": k, "standardize": False, "retrieval": False}))
        assert np.array_equal(knn_scores(labels, k, 2), one.scores)
    # k = 5: query 0 has 2 votes for 0, 3 for 1
    assert knn_scores(labels, 5, 2).argmax(1).tolist() == [1, 1]
