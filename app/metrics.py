"""Classification metrics from a score matrix: top-k accuracy, per-class accuracy, confusion, misclassified.

``scores`` is (N, C) (higher = more likely; logits, votes or regression outputs), ``labels`` is (N,) int.
The top-1 decision breaks ties by the lower class index (a stable sort); top-k (k > 1) counts a true class tied
for the last places by its expected share under a random tie-break, so it does not depend on class numbering.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def ranking(scores: np.ndarray) -> np.ndarray:
    """Class indices ordered best-first per row (stable: equal scores keep class order)."""
    scores = np.asarray(scores)
    return np.argsort(-scores, axis=1, kind="stable")


def top5_text(top5: float | None, n_classes: int) -> str:
    """"top-5 97.12%", or why there is none ("top-5 n/a (3 classes)": every class is in the top 5)."""
    return f"top-5 n/a ({n_classes} classes)" if top5 is None else f"top-5 {100 * top5:.2f}%"


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    scores = np.asarray(scores)
    labels = np.asarray(labels).astype(np.int64)
    if len(labels) == 0:
        return float("nan")
    if scores.ndim != 2 or scores.shape[0] != len(labels):
        raise ValueError(f"scores {scores.shape} do not match {len(labels)} labels")
    k = max(1, min(int(k), scores.shape[1]))
    order = ranking(scores)
    if k == 1:
        return float(np.mean(order[:, 0] == labels))  # the decision (ties: the lower class index, as predicted)
    # k > 1: the first place is the decision; the other k - 1 places go to the best of the rest, and classes that
    # tie for the last of them share it: the true class counts as the expected share under a random tie-break
    # (votes of a k-NN head tie at 0 for most classes: the lower-index rule made top-5 depend on class numbering,
    # 99.11% where any order gives 99.11-100%)
    rows = np.arange(len(labels))
    pred = order[:, 0]
    true_score = scores[rows, labels][:, None]
    rest = np.ones_like(scores, dtype=bool)
    rest[rows, pred] = False
    above = np.sum(rest & (scores > true_score), axis=1)
    tied = np.sum(rest & (scores == true_score), axis=1)
    share = np.clip((k - 1 - above) / np.maximum(tied, 1), 0.0, 1.0)
    return float(np.mean(np.where(pred == labels, 1.0, share)))


def confusion_matrix(pred: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """int64 (C, C): rows = true class, columns = predicted class."""
    pred = np.asarray(pred).astype(np.int64)
    labels = np.asarray(labels).astype(np.int64)
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (labels, pred), 1)
    return cm


def per_class_accuracy(confusion: np.ndarray) -> np.ndarray:
    """Recall of each class (diagonal / row sum); NaN for a class absent from the labels."""
    confusion = np.asarray(confusion)
    rows = confusion.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(rows > 0, np.diag(confusion) / np.maximum(rows, 1), np.nan)


@dataclass(frozen=True)
class Metrics:
    top1: float
    top2: float | None  # None with 2 classes or fewer: every image's class is among the top 2 (a trivial 100%)
    top5: float | None  # None with 5 classes or fewer, the same
    per_class: tuple[float, ...]
    confusion: np.ndarray
    misclassified: np.ndarray
    mis_predicted: np.ndarray
    predicted: np.ndarray


def evaluate_scores(scores: np.ndarray, labels: np.ndarray, n_classes: int) -> Metrics:
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(np.int64)
    if scores.shape[1] < n_classes:  # a head trained on fewer classes than the dataset has
        pad = np.full((scores.shape[0], n_classes - scores.shape[1]), -np.inf)
        scores = np.concatenate([scores, pad], axis=1)
    pred = ranking(scores)[:, 0]
    cm = confusion_matrix(pred, labels, n_classes)
    wrong = np.flatnonzero(pred != labels).astype(np.int64)
    cm.setflags(write=False)
    mis_pred = pred[wrong].astype(np.int64)
    wrong.setflags(write=False)
    mis_pred.setflags(write=False)
    return Metrics(
        top1=topk_accuracy(scores, labels, 1),
        top2=topk_accuracy(scores, labels, 2) if scores.shape[1] > 2 else None,
        top5=topk_accuracy(scores, labels, 5) if scores.shape[1] > 5 else None,
        per_class=tuple(float(v) for v in per_class_accuracy(cm)),
        confusion=cm,
        misclassified=wrong,
        mis_predicted=mis_pred,
        predicted=pred,
    )


def standard_error(accuracy: float | None, n: int | None) -> float | None:
    """The standard error of an accuracy measured on ``n`` images, sqrt(p (1 - p) / n): how far the figure would move
    on another sample of the same size (the test split's sampling error, not the spread over seeds). None without
    images or a figure."""
    if accuracy is None or not n or n <= 0:
        return None
    p = min(max(float(accuracy), 0.0), 1.0)
    return float(np.sqrt(p * (1.0 - p) / int(n)))


Z95 = 1.959963984540054  # the normal distribution's two-sided 95% point


def accuracy_interval(accuracy: float | None, n: int | None, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval (95% by default) of an accuracy measured on ``n`` images, (low, high) in [0, 1].
    Unlike p +- 2 s.e. it is never empty at 0% or 100% and never leaves [0, 1]: 10 of 10 right gives 72.2-100%
    (s.e. 0, which would claim certainty). None without images or a figure."""
    if accuracy is None or not n or n <= 0:
        return None
    p, n, z2 = min(max(float(accuracy), 0.0), 1.0), int(n), float(z) ** 2
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = float(z) * np.sqrt(p * (1.0 - p) / n + z2 / (4 * n * n)) / denom
    lo, hi = max(0.0, centre - half), min(1.0, centre + half)
    return (0.0 if p == 0.0 else float(lo)), (1.0 if p == 1.0 else float(hi))  # exact ends, not 0.9999999999999999


def normal_enough(accuracy: float | None, n: int | None) -> bool:
    """Whether the standard error describes the figure's sampling error well: at least 10 right and 10 wrong
    (n p >= 10 and n (1 - p) >= 10, the usual rule for the normal approximation of a binomial)."""
    if accuracy is None or not n or n <= 0:
        return False
    p = min(max(float(accuracy), 0.0), 1.0)
    return n * p >= 10 - 1e-9 and n * (1.0 - p) >= 10 - 1e-9


def percent(fraction: float, digits: int = 1) -> str:
    """``fraction`` as a percentage with ``digits`` decimals, or more where those would round it to 100% or 0%
    without its being so: 4 errors in 10,000 test images read "99.96%", not "100.0%" (nor one right "0.0%")."""
    x = 100 * float(fraction)
    d = digits
    while d < 6:
        text = f"{x:.{d}f}"
        if not ((x < 100 and float(text) >= 100) or (x > 0 and float(text) <= 0)):
            break
        d += 1
    return f"{x:.{d}f}%"


def ci_text(accuracy: float | None, n: int | None, digits: int = 1) -> str:
    """"95% CI 95.2-99.0": the Wilson 95% interval of a top-1 figure on n images, both bounds with ``digits``
    decimals, or more where those would round a bound to 100 or 0 without its being so (9,996 of 10,000 right:
    "99.91-99.99", not "99.9-100.0"); "" without images or a figure."""
    ci = accuracy_interval(accuracy, n)
    if ci is None:
        return ""
    d = max(len(percent(b, digits).rstrip("%").partition(".")[2]) for b in ci)
    return f"95% CI {100 * ci[0]:.{d}f}-{100 * ci[1]:.{d}f}"


def spread_text(accuracy: float | None, n: int | None, digits: int = 2) -> str:
    """The sampling error of a top-1 figure as the reports print it after the figure, in points: "s.e. 0.08" where the
    normal approximation holds (``normal_enough``), else the Wilson 95% interval, "95% CI 72.2-100.0" (on 10 images,
    or near 0% / 100%, an s.e. says too little: 0.00 for 10 of 10). "" without images or a figure."""
    if accuracy is None or not n or n <= 0:
        return ""
    if normal_enough(accuracy, n):
        return f"s.e. {100 * standard_error(accuracy, n):.{digits}f}"
    lo, hi = accuracy_interval(accuracy, n)
    return f"95% CI {100 * lo:.{max(digits, 1)}f}-{100 * hi:.{max(digits, 1)}f}"


# --- retrieval (k-NN: the query's class is the relevant set) --------------------------------------------------------
def _relevance(neighbour_labels: np.ndarray, labels: np.ndarray) -> np.ndarray:
    ranked = np.asarray(neighbour_labels)
    labels = np.asarray(labels).astype(np.int64)
    if ranked.ndim != 2 or ranked.shape[0] != len(labels):
        raise ValueError(f"ranked labels {ranked.shape} do not match {len(labels)} query labels")
    return ranked == labels[:, None]


def precision_at_k(neighbour_labels: np.ndarray, labels: np.ndarray, k: int, per_query: bool = False):
    """Fraction of the first ``k`` retrieved items (``neighbour_labels``: (N, K) labels of each query's results,
    best first) that share the query's label, averaged over the N queries (``per_query``: the (N,) array).
    ``k`` larger than K counts the missing results as not relevant (the denominator stays k)."""
    k = int(k)
    if k < 1:
        raise ValueError(f"precision@k: k must be >= 1, got {k}")
    rel = _relevance(neighbour_labels, labels)[:, :k]
    p = rel.sum(axis=1) / k
    if per_query:
        return p.astype(np.float64)
    return float(np.mean(p)) if len(p) else float("nan")


def average_precisions(ranked_labels: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Average precision of each query ((N,) float64): the mean of precision@r over the ranks r of its relevant
    items in the full ranking ``ranked_labels`` (N, M); NaN for a query with no relevant item in the ranking."""
    rel = _relevance(ranked_labels, labels)
    hits = np.cumsum(rel, axis=1)
    ranks = np.arange(1, rel.shape[1] + 1)
    total = rel.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (rel * (hits / ranks)).sum(axis=1) / np.maximum(total, 1), np.nan)


def mean_average_precision(ranked_labels: np.ndarray, labels: np.ndarray) -> float:
    """Mean over the queries of their average precision (queries without any relevant item are left out; NaN
    when none has one)."""
    ap = average_precisions(ranked_labels, labels)
    ok = ~np.isnan(ap)
    return float(ap[ok].mean()) if ok.any() else float("nan")
