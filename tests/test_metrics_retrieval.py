"""Metrics on hand-computed examples: top-k with enough classes to tell k = 1, 2, 3, 5 apart; precision@k; mAP."""

from __future__ import annotations

import numpy as np
import pytest

from app.metrics import (average_precisions, evaluate_scores, mean_average_precision, precision_at_k, ranking,
                         topk_accuracy)

# 7 classes; each row's true class sits at a chosen rank (1-based): 1, 2, 3, 4, 5, 6, 7, 2
RANKS = [1, 2, 3, 4, 5, 6, 7, 2]


def _scores_with_ranks(ranks, n_classes=7):
    scores = np.zeros((len(ranks), n_classes))
    labels = np.zeros(len(ranks), np.int64)
    for i, r in enumerate(ranks):
        order = np.roll(np.arange(n_classes), i)  # class order[0] best, order[1] second, ...
        scores[i, order] = np.linspace(1.0, 0.1, n_classes)
        labels[i] = order[r - 1]
    return scores, labels


def test_topk_counts_the_true_class_within_the_first_k():
    scores, labels = _scores_with_ranks(RANKS)
    # by hand: rank <= k for k = 1: 1 row; 2: 3 rows; 3: 4; 4: 5; 5: 6; 7: 8
    assert topk_accuracy(scores, labels, 1) == pytest.approx(1 / 8)
    assert topk_accuracy(scores, labels, 2) == pytest.approx(3 / 8)
    assert topk_accuracy(scores, labels, 3) == pytest.approx(4 / 8)
    assert topk_accuracy(scores, labels, 5) == pytest.approx(6 / 8)
    assert topk_accuracy(scores, labels, 7) == pytest.approx(1.0)
    m = evaluate_scores(scores, labels, 7)
    assert (m.top1, m.top2, m.top5) == pytest.approx((1 / 8, 3 / 8, 6 / 8))
    assert m.predicted.tolist() == [(-i) % 7 for i in range(8)]  # np.roll moves class 7 - i to the front
    assert m.misclassified.tolist() == [1, 2, 3, 4, 5, 6, 7]
    assert ranking(scores)[1, :3].tolist() == [6, 0, 1]


def test_topk_rejects_mismatched_shapes_and_handles_empty():
    with pytest.raises(ValueError, match="do not match"):
        topk_accuracy(np.zeros((3, 4)), np.zeros(2, np.int64), 1)
    assert np.isnan(topk_accuracy(np.zeros((0, 4)), np.zeros(0, np.int64), 1))


def test_evaluate_pads_missing_classes():
    scores = np.array([[0.1, 0.9], [0.8, 0.2]])
    m = evaluate_scores(scores, np.array([2, 0]), 3)
    assert m.confusion.tolist() == [[1, 0, 0], [0, 0, 0], [0, 1, 0]]
    # 3 classes: no top-5 (every class is in it: a trivial 100% was printed for 1-5 class image folders)
    assert m.top1 == pytest.approx(0.5) and m.top2 == pytest.approx(0.5) and m.top5 is None


def test_precision_at_k_hand_example():
    # query labels 0, 1, 2; retrieved labels best first
    ranked = np.array([[0, 0, 1, 0, 2],
                       [0, 1, 1, 1, 1],
                       [1, 1, 0, 0, 0]])
    labels = np.array([0, 1, 2])
    assert precision_at_k(ranked, labels, 1) == pytest.approx((1 + 0 + 0) / 3)
    assert precision_at_k(ranked, labels, 2) == pytest.approx((1.0 + 0.5 + 0) / 3)
    assert precision_at_k(ranked, labels, 5) == pytest.approx((3 / 5 + 4 / 5 + 0) / 3)
    assert precision_at_k(ranked, labels, 3, per_query=True).tolist() == pytest.approx([2 / 3, 2 / 3, 0.0])
    # k beyond the list: missing results count as not relevant
    assert precision_at_k(ranked[:, :2], labels, 4, per_query=True).tolist() == pytest.approx([0.5, 0.25, 0.0])
    with pytest.raises(ValueError, match="k must be"):
        precision_at_k(ranked, labels, 0)
    with pytest.raises(ValueError, match="do not match"):
        precision_at_k(ranked, labels[:2], 1)


def test_average_precision_hand_example():
    ranked = np.array([[0, 0, 1, 0, 2],    # relevant at ranks 1, 2, 4: (1/1 + 2/2 + 3/4) / 3
                       [0, 1, 1, 0, 1],    # ranks 2, 3, 5: (1/2 + 2/3 + 3/5) / 3
                       [1, 1, 0, 0, 0],    # none: left out
                       [1, 1, 1, 1, 3]])   # rank 5: (1/5) / 1
    labels = np.array([0, 1, 2, 3])
    ap = average_precisions(ranked, labels)
    expect = [(1 + 1 + 0.75) / 3, (0.5 + 2 / 3 + 0.6) / 3, np.nan, 0.2]
    assert np.allclose(ap, expect, equal_nan=True)
    assert mean_average_precision(ranked, labels) == pytest.approx((expect[0] + expect[1] + expect[3]) / 3)
    assert np.isnan(mean_average_precision(ranked[2:3], labels[2:3]))


def test_one_sample_and_empty_inputs():
    assert topk_accuracy(np.array([[0.2, 0.8]]), np.array([1]), 1) == 1.0
    assert topk_accuracy(np.array([[0.2, 0.8]]), np.array([0]), 1) == 0.0
    assert np.isnan(precision_at_k(np.zeros((0, 3), np.int64), np.zeros(0, np.int64), 2))
    assert precision_at_k(np.array([[1, 1, 0]]), np.array([1]), 3) == pytest.approx(2 / 3)


def test_per_class_accuracy_fractions_and_absent_classes():
    from app.metrics import confusion_matrix, per_class_accuracy

    cm = confusion_matrix(np.array([0, 1, 1, 2, 2, 2, 0]), np.array([0, 0, 1, 2, 2, 1, 0]), 4)
    assert cm.tolist() == [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 2, 0], [0, 0, 0, 0]]
    pc = per_class_accuracy(cm)
    assert pc[:3].tolist() == pytest.approx([2 / 3, 1 / 2, 1.0]) and np.isnan(pc[3])
    one = per_class_accuracy(np.array([[1, 0], [0, 0]]))
    assert one[0] == 1.0 and np.isnan(one[1])


def test_evaluate_scores_outputs_are_complete_and_read_only():
    scores, labels = _scores_with_ranks(RANKS)
    m = evaluate_scores(scores, labels, 7)
    assert m.mis_predicted.tolist() == [(-i) % 7 for i in range(1, 8)]
    # labels: rows 0-6 are class 0 (only row 0 right), row 7 is class 1 (wrong); classes 2-6 never occur
    assert labels.tolist() == [0] * 7 + [1]
    assert m.per_class[:2] == pytest.approx((1 / 7, 0.0)) and np.isnan(m.per_class[2:]).all()
    assert m.confusion.sum() == 8 and m.confusion.dtype == np.int64
    for arr in (m.confusion, m.misclassified, m.mis_predicted):
        assert not arr.flags.writeable
    # a head with fewer classes than the dataset: 3 samples x 2 scores, 4 classes
    small = evaluate_scores(np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]), np.array([0, 3, 1]), 4)
    assert small.confusion.shape == (4, 4) and small.predicted.tolist() == [0, 1, 0]
    assert small.top2 == pytest.approx(2 / 3) and small.top5 is None  # padded classes rank last; 4 classes: no top-5
    two = evaluate_scores(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([1, 1]), 2)
    assert two.top1 == pytest.approx(0.5) and two.top2 is None and two.top5 is None


def test_ties_keep_class_order_with_many_classes():
    # 200 classes, 3 score levels: numpy's default (unstable) sort reorders ties in rows this long; the ranking and
    # the predicted class must not (ties go to the lower class index, as documented); top-k (k > 1) gives a class
    # tied for the last places its expected share instead (not a hit or a miss by its index)
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 3, (6, 200)).astype(np.float32)
    expect = [sorted(range(200), key=lambda j, row=row: (-row[j], j)) for row in scores]
    assert ranking(scores).tolist() == expect
    labels = np.array([row[7] for row in expect])  # the true class at rank 8 of each row
    assert 0.0 < topk_accuracy(scores, labels, 7) < topk_accuracy(scores, labels, 8) < 1.0  # shares of a tie
    assert topk_accuracy(scores, labels, 200) == 1.0
    m = evaluate_scores(scores, labels, 200)
    assert m.predicted.tolist() == [row[0] for row in expect]
    assert m.predicted.dtype == np.int64 and m.mis_predicted.dtype == np.int64 and m.misclassified.dtype == np.int64


def test_empty_retrieval_means_say_nan_without_a_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Mean of empty slice" would reach the user's terminal
        assert np.isnan(mean_average_precision(np.array([[1, 1]]), np.array([0])))
        assert np.isnan(topk_accuracy(np.zeros((0, 3)), np.zeros(0, np.int64), 2))
        assert np.isnan(precision_at_k(np.zeros((0, 2), np.int64), np.zeros(0, np.int64), 1))
