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


def test_knn_progress_curve_and_edge_cases():
    progress = []
    gen = train_knn(XTR, YTR, XTE, YTE, 2, {"k": 50, "standardize": False})
    try:
        while True:
            progress.append(next(gen))
    except StopIteration as stop:
        res = stop.value
    assert res.settings["k"] == 6  # k larger than the training set: all of it
    assert [(p.done, p.total) for p in progress] == [(1, 1), (1, 1)]
    assert progress[0].message == "k-NN: 2/2 test images" and progress[-1].message == "k-NN done"
    cp = res.curves[0]
    assert progress[-1].payload is cp and cp.step == 1 and cp.train_acc is None
    # k = 6: query 0 gets 3 votes for each class (nearer ones win the tie: class 0); query 1: class 1
    assert cp.test_acc == pytest.approx(1.0) and res.scores.argmax(1).tolist() == [0, 1]
    # test labels unknown (empty): no accuracy, no retrieval
    blind = run_to_end(train_knn(XTR, YTR, XTE, YTE[:0], 2, {"k": 1, "standardize": False}))
    assert blind.extra == {} and blind.curves[0].test_acc is None
    assert blind.scores.argmax(1).tolist() == [0, 1]
    # a query whose class is absent from the database: its AP is undefined and left out of the mAP
    odd = run_to_end(train_knn(XTR, YTR, XTE, np.array([0, 2]), 3, {"k": 1, "standardize": False}))
    assert odd.extra["mAP"] == pytest.approx((1 + 1 + 3 / 6) / 3)
    assert odd.extra["precision@1"] == pytest.approx(0.5)
    assert odd.extra["retrieval_database"] == "training set (6 rows), queries: test set"


def test_knn_standardises_with_training_statistics():
    # feature 2 has a huge scale; after standardisation both features count
    Xtr = np.array([[0.0, 0.0], [0.0, 1000.0], [1.0, 0.0], [1.0, 1000.0]], np.float32)
    ytr = np.array([0, 1, 0, 1])
    q = np.array([[1.0, 900.0]], np.float32)
    raw = run_to_end(train_knn(Xtr, ytr, q, np.array([1]), 2, {"k": 1, "standardize": False}))
    std = run_to_end(train_knn(Xtr, ytr, q, np.array([1]), 2, {"k": 1}))
    assert raw.scores.argmax(1).tolist() == [1] and std.scores.argmax(1).tolist() == [1]
    q2 = np.array([[0.9, 400.0]], np.float32)  # raw: nearest is (1, 0)? |400| vs |600|: (1, 0) -> class 0
    assert run_to_end(train_knn(Xtr, ytr, q2, np.array([0]), 2, {"k": 1, "standardize": False})).scores.argmax(1)[0] == 0
