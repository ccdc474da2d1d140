"""k-NN in detail, against numpy brute force: queries in chunks (the chunk size follows the training-set size),
the progress a user reads per chunk, retrieval figures across chunk borders, settings and timing, cancel.
Written against the surviving mutants of a mutmut run (docs/testing.md, "Mutation testing")."""

from __future__ import annotations

import time

import numpy as np
import pytest

from app.metrics import average_precisions, precision_at_k
from app.probe.heads import knn_neighbours, knn_scores, train_knn
from app.tasks import CancelToken, Cancelled, run_to_end
from head_helpers import drain as _drain


def _brute_force(Xtr, ytr, Xte, k):
    d = ((Xte[:, None, :].astype(np.float64) - Xtr[None, :, :]) ** 2).sum(-1)
    return ytr[np.argsort(d, axis=1, kind="stable")[:, :k]], ytr[np.argsort(d, axis=1, kind="stable")]


def test_knn_chunk_size_follows_the_training_set():
    # 17000 training rows: 64 MiB of float32 distances per chunk = 986 queries (below the 1024 cap)
    rng = np.random.default_rng(0)
    Xtr = rng.standard_normal((17000, 2)).astype(np.float32)
    ytr = rng.integers(0, 3, 17000)
    Xte = rng.standard_normal((1000, 2)).astype(np.float32)
    steps, (labels, per_query) = _drain(knn_neighbours(Xtr, ytr, Xte, {"standardize": False}, 4))
    assert [(p.done, p.total, p.message) for p in steps] == [(1, 2, "k-NN: 986/1000 test images"),
                                                             (2, 2, "k-NN: 1000/1000 test images")]
    assert per_query == {} and labels.dtype == np.int64 and labels.shape == (1000, 4)
    rows = [0, 985, 986, 999]  # both sides of the chunk border
    expect, _ = _brute_force(Xtr, ytr, Xte[rows], 4)
    assert np.array_equal(labels[rows], expect)


def test_knn_retrieval_across_chunks_matches_numpy():
    # 1100 queries against 7 training rows: chunks of 1024 and 76; retrieval figures per query across the border
    rng = np.random.default_rng(1)
    Xtr = np.array([[0.0], [1.0], [2.5], [4.0], [7.0], [9.5], [12.0]], np.float32)
    ytr = np.array([0, 1, 0, 2, 1, 1, 0])
    Xte = (rng.random((1100, 1)) * 13.0 - 0.3).astype(np.float32)
    yte = rng.integers(0, 4, 1100)  # class 3 has no training row: AP undefined for those queries
    steps, (labels, per_query) = _drain(knn_neighbours(Xtr, ytr, Xte, {"standardize": False}, 20,
                                                       query_labels=yte))
    assert [p.message for p in steps] == ["k-NN: 1024/1100 test images", "k-NN: 1100/1100 test images"]
    expect, ranked = _brute_force(Xtr, ytr, Xte, 7)
    assert labels.shape == (1100, 7) and np.array_equal(labels, expect)  # k_max above the training set: all rows
    assert np.allclose(per_query["ap"], average_precisions(ranked, yte), equal_nan=True)
    assert set(per_query) == {"ap", "p@1", "p@5", "p@10"}
    for r in (1, 5, 10):
        assert np.allclose(per_query[f"p@{r}"], precision_at_k(ranked, yte, r, per_query=True))
    res = run_to_end(train_knn(Xtr, ytr, Xte, yte, 4, {"k": 3, "standardize": False}))
    ap = average_precisions(ranked, yte)
    assert res.extra["mAP"] == pytest.approx(np.nanmean(ap))
    assert res.extra["precision@5"] == pytest.approx(precision_at_k(ranked, yte, 5))
    assert np.array_equal(res.scores, knn_scores(expect, 3, 4))


def test_knn_result_fields_settings_and_time():
    Xtr = np.array([[0.0], [1.0], [5.0], [6.0]], np.float32)
    ytr = np.array([0, 0, 1, 1])
    Xte = np.array([[0.2], [5.9], [0.9]], np.float32)
    yte = np.array([0, 1, 1])
    t0 = time.perf_counter()
    res = run_to_end(train_knn(Xtr, ytr, Xte, yte, 2, {"k": 2, "standardize": False, "note": "x"}))
    elapsed = time.perf_counter() - t0
    assert res.settings == {"k": 2, "standardize": False, "note": "x"} and res.state is None
    assert 0 < res.seconds <= elapsed
    assert res.scores.dtype == np.float32 and res.scores.shape == (3, 2)
    cp = res.curves[0]
    assert (cp.step, cp.epoch, cp.train_acc) == (1, 1.0, None) and np.isnan(cp.loss)
    assert cp.val_acc == pytest.approx(2 / 3)
    assert res.extra["precision@1"] == pytest.approx(2 / 3)
    assert res.extra["retrieval_database"] == "training set (4 rows), queries: test set"
    one = run_to_end(train_knn(Xtr, ytr, Xte[:1], yte[:1], 2, {"k": 1, "standardize": False}))
    assert one.extra["precision@1"] == 1.0 and one.extra["mAP"] == 1.0  # a single query still gets retrieval
    empty = run_to_end(train_knn(Xtr, ytr, Xte[:0], yte[:0], 2, {"k": 1, "standardize": False}))
    assert empty.extra == {} and empty.scores.shape == (0, 2) and empty.curves[0].val_acc is None
    k0 = run_to_end(train_knn(Xtr, ytr, Xte, yte, 2, {"k": 0, "standardize": False}))
    assert k0.settings["k"] == 1 and k0.scores.argmax(1).tolist() == [0, 1, 0]


def test_knn_neighbours_refuse_nothing_and_cancel():
    Xtr = np.arange(12, dtype=np.float32).reshape(6, 2)
    ytr = np.array([0, 1, 0, 1, 0, 1])
    labels, _ = run_to_end(knn_neighbours(Xtr, ytr, Xtr[:2], {}, 0))  # k_max 0: one neighbour
    assert labels.tolist() == [[0], [1]]
    live = CancelToken()
    assert run_to_end(knn_neighbours(Xtr, ytr, Xtr[:2], {}, 2, cancel=live))[0].shape == (2, 2)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        run_to_end(train_knn(Xtr, ytr, Xtr, ytr, 2, {"k": 1}, cancel=token))


def test_knn_map_is_nan_without_a_warning_when_no_query_has_a_relevant_item():
    import warnings

    Xtr = np.array([[0.0], [1.0], [2.0]], np.float32)
    ytr = np.array([0, 1, 0])
    Xte = np.array([[0.1], [1.9]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Mean of empty slice" would reach the user's terminal
        res = run_to_end(train_knn(Xtr, ytr, Xte, np.array([2, 2]), 3, {"k": 1, "standardize": False}))
    assert np.isnan(res.extra["mAP"]) and res.extra["precision@1"] == 0.0 and res.curves[0].val_acc == 0.0


def test_knn_retrieval_ranks_equal_distances_by_training_index():
    # 100 training rows at the same distance from the query: the ranking keeps their order (a stable sort), so the
    # retrieval figures do not depend on how the sort breaks ties
    ytr = np.tile([0, 1, 1, 0, 1], 20)
    Xtr = np.ones((100, 2), np.float32)
    Xte = np.zeros((2, 2), np.float32)
    labels, per_query = run_to_end(knn_neighbours(Xtr, ytr, Xte, {"standardize": False}, 10,
                                                  query_labels=np.array([0, 1])))
    assert labels.tolist() == [ytr[:10].tolist()] * 2
    assert per_query["p@5"].tolist() == [0.4, 0.6] and per_query["p@1"].tolist() == [1.0, 0.0]
    assert per_query["ap"] == pytest.approx([average_precisions(ytr[None], np.array([q]))[0] for q in (0, 1)])
