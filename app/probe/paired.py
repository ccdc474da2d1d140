"""Two stored runs scored on the same test images, compared image by image (a paired test).

Two accuracies measured on the same 10,000 images are not two independent samples: most images are right (or wrong)
for both models, and only the images where they disagree say which model is better. Their standard errors side by
side (each ~0.1 points on MNIST) overstate the uncertainty of a difference by far, or, read as "the intervals
overlap", call a real difference noise. The paired answer:

- ``a_only``: images run A classified right and run B wrong; ``b_only``: the reverse; the rest both got right or both
  wrong. The difference of the two accuracies is exactly ``(a_only - b_only) / n``.
- McNemar's exact test: under "the two models are equally accurate", each disagreement is A's or B's with
  probability 1/2, so ``a_only`` ~ Binomial(a_only + b_only, 1/2); the two-sided p value is twice the smaller tail
  (at most 1). It is what the disagreements alone can say, with no normal approximation.
- The difference's 95% interval, exact and conditional on the disagreements, the interval that goes with the exact
  test: the Clopper-Pearson interval (lo, hi) of theta = a_only / (a_only + b_only) mapped to the difference,
  ``((2 lo - 1) m / n, (2 hi - 1) m / n)`` with m = a_only + b_only. It excludes 0 exactly when McNemar's p is
  below 0.05 (each tail at 2.5%), from one disagreement on. Wald's normal interval it replaces could say "beyond
  chance" beside p = 0.065 (9 against 2 disagreements on 1,000 images: +0.05 to +1.35 points) and had zero width
  when every disagreement went one way on every image.

Which images each run got wrong is in every stored run (``misclassified``: indices into its test split). The two
runs must have scored the very same images: since 2026-12-03 each run stores its test split's content digest
(``test_fingerprint``: pixels, labels and class names, ``ArrayDataset.fingerprint``); runs stored before it are
paired when their test split's settings (dataset, data folder, test subset and its seed) and size are the same, and
the answer says so. Anything else is refused with the reason (``PairingError``).

Qt-free; the history panel and ``python main.py history pair A B`` show the same ``PairedComparison``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from app.device import machine_text, machines_differ
from app.errors import AppError
ALPHA = 0.05  # the level the verdict's wording uses; the p value itself is always given


class PairingError(AppError, ValueError):
    """The two runs cannot be compared image by image; the message says why."""


@dataclass(frozen=True)
class PairedComparison:
    a: int  # run ids (None for runs not stored)
    b: int
    n: int  # test images
    a_top1: float
    b_top1: float
    a_only: int  # right by A, wrong by B
    b_only: int  # right by B, wrong by A
    both_wrong: int
    p_value: float  # McNemar's exact test, two-sided
    interval: tuple[float, float] | None  # 95% of a_top1 - b_top1 (None: no disagreement, or no images)
    basis: str  # "fingerprint" (the same image content) or "settings" (runs stored before fingerprints)
    # what the two runs' recorded machines differ in (``app.device.MACHINE_KEYS``: processor, torch's CPU kernels,
    # torch): the same settings can then differ in float rounding; () when alike or either run recorded none
    machines: tuple[str, ...] = ()
    machine_texts: tuple[str, ...] = ()  # the two machines in words (``app.device.machine_text``) where they differ
    # where this comparison is one of several read together (an ablation's arms and seeds): its p adjusted for all
    # of them by Holm's step-down method (``holm``), and how many there were; None / 0 for a comparison on its own
    holm_p: float | None = None
    family: int = 0

    @property
    def both_right(self) -> int:
        return self.n - self.a_only - self.b_only - self.both_wrong

    @property
    def difference(self) -> float:
        """A's top-1 minus B's (a fraction), from the disagreements alone."""
        return (self.a_only - self.b_only) / self.n

    @property
    def significant(self) -> bool:
        return self.p_value < ALPHA

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "n_test": self.n, "a_test_top1": self.a_top1, "b_test_top1": self.b_top1,
                "a_right_b_wrong": self.a_only, "b_right_a_wrong": self.b_only, "both_wrong": self.both_wrong,
                "both_right": self.both_right, "difference": self.difference, "interval95": (
                    None if self.interval is None else list(self.interval)),
                "p_value": self.p_value, "test": "McNemar exact (two-sided)", "significant_at": ALPHA,
                "significant": self.significant, "paired_by": self.basis, "machines_differ_in": list(self.machines),
                "machines": list(self.machine_texts)}


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p value: 2 P(X <= min(a_only, b_only)) for X ~ Binomial(a_only + b_only, 1/2), at most
    1; 1.0 without disagreements. Summed in logarithms (thousands of disagreements underflow a plain product)."""
    a_only, b_only = int(a_only), int(b_only)
    if a_only < 0 or b_only < 0:
        raise ValueError("disagreement counts must be >= 0")
    m = a_only + b_only
    if m == 0:
        return 1.0
    k = min(a_only, b_only)
    ks = np.arange(1, k + 1, dtype=np.float64)
    # log C(m, j) for j = 0..k by the recurrence C(m, j) = C(m, j - 1) (m - j + 1) / j
    logc = np.concatenate(([0.0], np.cumsum(np.log(m - ks + 1) - np.log(ks))))
    top = logc.max()
    log_tail = top + math.log(float(np.exp(logc - top).sum())) - m * math.log(2.0)
    return float(min(1.0, 2.0 * math.exp(log_tail)))


def _log_pmf(m: int, p: float) -> np.ndarray:
    """log P(X = j), j = 0..m, for X ~ Binomial(m, p) with 0 < p < 1 (logarithms: thousands of terms)."""
    j = np.arange(1, m + 1, dtype=np.float64)
    logc = np.concatenate(([0.0], np.cumsum(np.log(m - j + 1) - np.log(j))))
    js = np.arange(m + 1, dtype=np.float64)
    return logc + js * math.log(p) + (m - js) * math.log1p(-p)


def _sum_exp(logs: np.ndarray) -> float:
    if not logs.size:
        return 0.0
    top = float(logs.max())
    return math.exp(top) * float(np.exp(logs - top).sum())


def clopper_pearson(k: int, m: int, alpha: float = ALPHA) -> tuple[float, float]:
    """The exact (Clopper-Pearson) 1 - alpha interval of a binomial proportion, k successes of m (m >= 1): the
    p where P(X >= k) = alpha / 2 and where P(X <= k) = alpha / 2, by bisection (to 1e-12)."""
    k, m = int(k), int(m)
    if m < 1 or not 0 <= k <= m:
        raise ValueError(f"need 0 <= k <= m and m >= 1, got k={k}, m={m}")

    def solve(f) -> float:  # f increasing in p, from < 0 to > 0 on (0, 1)
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if f(mid) < 0 else (lo, mid)
        return (lo + hi) / 2

    low = 0.0 if k == 0 else solve(lambda p: _sum_exp(_log_pmf(m, p)[k:]) - alpha / 2)
    high = 1.0 if k == m else solve(lambda p: alpha / 2 - _sum_exp(_log_pmf(m, p)[:k + 1]))
    return low, high


def difference_interval(a_only: int, b_only: int, n: int, alpha: float = ALPHA) -> tuple[float, float] | None:
    """The exact 95% interval (by default) of a paired accuracy difference (a_only - b_only) / n, conditional on
    the m = a_only + b_only disagreements: Clopper-Pearson of a_only / m, mapped to the difference (see the module
    docstring); None without disagreements or images."""
    a_only, b_only, n = int(a_only), int(b_only), int(n)
    m = a_only + b_only
    if n <= 0 or m == 0:
        return None
    lo, hi = clopper_pearson(a_only, m, alpha)
    return ((2 * lo - 1) * m / n, (2 * hi - 1) * m / n)


def _split_settings(run: dict) -> tuple | None:
    """What chose a run's test images, for runs stored before the fingerprint: (dataset, data folder, test limit,
    the subset's seed when limited); None without a resolved record."""
    res = run.get("resolved")
    if not isinstance(res, dict) or not res:
        return None
    limit = res.get("test_limit")
    seed = (res.get("seeds") or {}).get("split") if limit is not None else None
    return (res.get("dataset"), res.get("data_root"), limit, seed)


def _name(run: dict) -> str:
    rid = run.get("run_id", run.get("id"))
    return f"run {rid}" if rid is not None else "the run"


def pairing_basis(a: dict, b: dict) -> str:
    """How the two runs are known to have scored the same images: "fingerprint" or "settings"; PairingError with the
    reason when they did not (or it cannot be told)."""
    na, nb = _name(a), _name(b)
    if a.get("n_test") != b.get("n_test"):
        raise PairingError(f"{na} was scored on {a.get('n_test')} test images and {nb} on {b.get('n_test')}: a paired "
                           "test needs the same images")
    if list(a.get("classes") or ()) != list(b.get("classes") or ()):
        raise PairingError(f"{na} and {nb} have different classes: they were not scored on the same test images")
    fa, fb = a.get("test_fingerprint"), b.get("test_fingerprint")
    if fa and fb:
        if fa != fb:
            raise PairingError(f"{na} and {nb} were scored on different test images (another dataset, data folder, "
                               "test subset or its seed, or the images changed between the runs)")
        return "fingerprint"
    sa, sb = _split_settings(a), _split_settings(b)
    if sa is None or sb is None:
        raise PairingError(f"{na if sa is None else nb} was stored before runs recorded "
                           "their test images: it cannot be paired")
    if sa != sb:
        raise PairingError(f"{na} and {nb} chose their test images differently (dataset, data folder, test subset or "
                           "its seed): a paired test needs the same images")
    return "settings"


def _wrong(run: dict, n: int) -> np.ndarray:
    mis = np.unique(np.asarray(run.get("misclassified") or [], dtype=np.int64))
    if mis.size and (mis[0] < 0 or mis[-1] >= n):
        raise PairingError(f"{_name(run)}'s stored misclassified images do not fit its {n} test images")
    top1 = run.get("test_top1", run.get("top1"))
    if top1 is not None and abs((n - mis.size) / n - float(top1)) > 0.5 / n:
        # the list is the run's whole record of its errors: if it does not give its accuracy, it is not complete
        raise PairingError(f"{_name(run)} stored {mis.size} misclassified images of {n}, which does not give its "
                           f"top-1 of {100 * float(top1):.2f}%: its image-by-image record is incomplete")
    return mis


def compare_pair(a: dict, b: dict) -> PairedComparison:
    """The paired comparison of two stored runs (``History.get`` dicts, ``ProbeResult.to_dict()``): A's and B's
    disagreements, McNemar's exact p and the difference's interval. PairingError when they did not score the same
    test images."""
    basis = pairing_basis(a, b)
    n = int(a.get("n_test") or 0)
    if n <= 0:
        raise PairingError(f"{_name(a)} has no test images to compare")
    wa, wb = _wrong(a, n), _wrong(b, n)
    differ = machines_differ(a.get("machine"), b.get("machine"))
    both_wrong = int(np.intersect1d(wa, wb, assume_unique=True).size)
    a_only = int(wb.size - both_wrong)  # B wrong, A right
    b_only = int(wa.size - both_wrong)
    return PairedComparison(
        a=a.get("run_id", a.get("id")), b=b.get("run_id", b.get("id")), n=n, a_top1=(n - wa.size) / n,
        b_top1=(n - wb.size) / n, a_only=a_only, b_only=b_only, both_wrong=both_wrong,
        p_value=mcnemar_exact(a_only, b_only), interval=difference_interval(a_only, b_only, n), basis=basis,
        machines=tuple(differ), machine_texts=(machine_text(a.get("machine")), machine_text(b.get("machine"))) if differ
        else ())


def pair_records(a: dict, b: dict) -> PairedComparison | None:
    """``compare_pair`` where both records carry their test images (the digest and the misclassified list: an
    experiment's cells stored before they kept them do not); None there, or where the two were not scored on the
    same images."""
    if not a.get("test_fingerprint") or not b.get("test_fingerprint") or a.get("misclassified") is None \
            or b.get("misclassified") is None:
        return None
    try:
        return compare_pair(a, b)
    except PairingError:
        return None


def run_name(run: dict) -> str:
    """"run 12 (rdsn, random)": the id, the model's label and its weight state, as the history lists them."""
    from app.models.catalog import stored_weight_state

    model = (run.get("resolved") or {}).get("model") or (run.get("config") or {}).get("model") or {}
    label = model.get("label") or model.get("backbone") or "?"
    rid = run.get("run_id", run.get("id"))
    return f"{'run ' + str(rid) if rid is not None else 'the run'} ({label}, {stored_weight_state(model)})"


def holm(ps: list) -> list:
    """Holm's step-down adjustment of p values tested together (None: no test, left out and kept None): sorted
    ascending, the i-th of m (from 1) becomes ``min(1, max over j <= i of (m - j + 1) p_(j))``. Controls the chance
    of calling any of the m comparisons a difference when none is (family-wise error) at the level it is read at;
    uniformly more powerful than Bonferroni's ``m p``, and valid whatever the tests' dependence."""
    idx = sorted((i for i, p in enumerate(ps) if p is not None), key=lambda i: (ps[i], i))
    m = len(idx)
    out: list = [None] * len(ps)
    running = 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (m - rank) * float(ps[i])))
        out[i] = running
    return out


def with_holm(pairs: dict) -> dict:
    """``pairs`` (key -> PairedComparison or None) with each comparison's ``holm_p`` over all of them and
    ``family`` their count."""
    keys = [k for k, c in pairs.items() if c is not None]
    adjusted = holm([pairs[k].p_value for k in keys])
    out = dict(pairs)
    for k, q in zip(keys, adjusted):
        out[k] = replace(pairs[k], holm_p=q, family=len(keys))
    return out


def p_text(p: float) -> str:
    """A p value as people write it: 3 significant digits, "< 1e-300" below what a float holds; more digits where 3
    would round a p below 0.05 up to "0.05" (0.049983 read "p = 0.05" beside "beyond chance at the 0.05 level")."""
    if p <= 0.0:
        return "p < 1e-300"
    if p < 1e-3:
        return f"p = {p:.2e}"
    digits = 3
    while p < 0.05 and float(f"{p:.{digits}g}") >= 0.05 and digits < 8:
        digits += 1
    return f"p = {p:.{digits}g}"


def p_values_text(ps: list) -> str:
    """p values side by side, one per pair ("0.0021, 0.31"; "-" for a pair without one); "-" when none has one."""
    if all(p is None for p in ps):
        return "-"
    return ", ".join("-" if p is None else p_text(p).removeprefix("p = ").removeprefix("p ") for p in ps)


def paired_text(c: PairedComparison, title_a: str | None = None, title_b: str | None = None) -> str:
    """One paragraph: the images, the disagreements, the difference with its interval, McNemar's p and a verdict.
    ``title_a``/``title_b`` name the runs in its first sentence (``run_name``; default "run ID")."""
    na, nb = f"run {c.a}", f"run {c.b}"
    ci = "" if c.interval is None else f" (exact 95% CI {100 * c.interval[0]:+.2f} to {100 * c.interval[1]:+.2f})"
    same = "the same" if c.basis == "fingerprint" else \
        "the same (known by their settings: stored before runs recorded their images)"
    head = (f"{title_a or na} vs {title_b or nb}, {same} {c.n:,} test images: top-1 {100 * c.a_top1:.2f}% vs "
            f"{100 * c.b_top1:.2f}%. Right for {na} and wrong for {nb}: {c.a_only:,} images; the reverse: "
            f"{c.b_only:,}; wrong for both: {c.both_wrong:,}. Difference {100 * c.difference:+.2f} points{ci}; "
            f"McNemar's exact {p_text(c.p_value)}: ")
    if c.a_only + c.b_only == 0:
        # the same images right and the same wrong: a wrong image may still get two different classes
        verdict = "the two got the same images right and the same images wrong."
    elif c.significant:
        better, worse = (na, nb) if c.a_only > c.b_only else (nb, na)
        verdict = f"{better} is more accurate than {worse} (at the {ALPHA:g} level)."
    else:
        verdict = f"no significant difference (at the {ALPHA:g} level): the disagreements could be chance."
    return head + verdict + machines_note(c)


def machines_note(c: PairedComparison) -> str:
    """" The two runs were computed on different machines (...)": a difference may be partly float rounding; ""
    when alike or not known."""
    if not c.machines:
        return ""
    named = f": {c.machine_texts[0]} vs {c.machine_texts[1]}" if len(c.machine_texts) == 2 else ""
    return (f" The two runs were computed on different machines ({', '.join(k.replace('_', ' ') for k in c.machines)}"
            f" differ{named}): part of a difference between them can be float rounding, not the settings.")


def paired_summary(c: PairedComparison) -> str:
    """The comparison in one line (the history box's; ``paired_text`` says the rest)."""
    ci = "" if c.interval is None else f" (exact 95% CI {100 * c.interval[0]:+.2f} to {100 * c.interval[1]:+.2f})"
    head = f"Run {c.a} vs run {c.b}, the same {c.n:,} test images: {100 * c.difference:+.2f} points{ci}, " \
           f"McNemar {p_text(c.p_value)}"
    apart = " (computed on different machines: see the tooltip)" if c.machines else ""
    if c.a_only + c.b_only == 0:
        return head + ": the same images right and wrong." + apart
    if c.significant:
        return head + f": run {c.a if c.a_only > c.b_only else c.b} is more accurate." + apart
    return head + ": no significant difference." + apart


def rerun_check(original: dict, again: dict) -> dict:
    """What a rerun (``probe --rerun ID``) gave against the run it reran, both as stored (``ProbeResult.to_dict``):
    ``reproduced`` (the same value selected, the same validation figure and the same prediction for every test image),
    the figures side by side, the paired comparison of the test images where they differ (``compare_pair``), and the
    machines where they differ (a rerun on another processor may differ by float rounding alone). ``text``: one
    paragraph. A rerun scored on other test images (the data changed since) says so instead of pairing."""
    name = _name(original)
    out: dict[str, Any] = {"of": original.get("run_id", original.get("id")),
                           "test_top1": [original.get("test_top1", original.get("top1")),
                                         again.get("test_top1", again.get("top1"))],
                           "val_top1": [original.get("val_top1"), again.get("val_top1")],
                           "selected": [original.get("selected") or {}, again.get("selected") or {}],
                           "machines_differ_in": machines_differ(original.get("machine"), again.get("machine"))}
    same_choice = out["selected"][0] == out["selected"][1] and out["val_top1"][0] == out["val_top1"][1]
    try:
        c = compare_pair(original, again)
    except PairingError as exc:
        out.update(reproduced=False, paired=None,
                   text=f"Against {name}: not comparable image by image ({exc}).")
        return out
    same_predictions = (c.a_only == c.b_only == 0 and list(original.get("misclassified") or []) ==
                        list(again.get("misclassified") or []) and list(original.get("mis_predicted") or []) ==
                        list(again.get("mis_predicted") or []))
    out.update(reproduced=bool(same_choice and same_predictions), paired=c.to_dict())
    if out["reproduced"]:
        text = (f"Against {name}: reproduced (the same selection, validation figure and prediction for every one "
                f"of the {c.n:,} test images).")
    else:
        what = []
        if out["selected"][0] != out["selected"][1]:
            what.append("validation selected " + ", ".join(f"{k} {v}" for k, v in out["selected"][1].items())
                        + " where it had selected " + ", ".join(f"{k} {v}" for k, v in out["selected"][0].items()))
        elif out["val_top1"][0] != out["val_top1"][1]:
            what.append(f"validation top-1 {_pct(out['val_top1'][1])} against {_pct(out['val_top1'][0])}")
        if c.a_only + c.b_only:
            images = f"{c.b_only:,} test image{'s' if c.b_only != 1 else ''}"
            what.append(f"test top-1 {100 * c.b_top1:.2f}% against {100 * c.a_top1:.2f}%: {images} right now and "
                        f"wrong then, {c.a_only:,} the reverse (McNemar's exact {p_text(c.p_value)})")
        elif not same_predictions:
            what.append("the same images right and wrong, some wrong ones given another class")
        where = (f"; {name} was computed on {machine_text(original.get('machine'))}, this rerun on "
                 f"{machine_text(again.get('machine'))}: float rounding alone can make such a difference"
                 if out["machines_differ_in"] else
                 "; the same processor, CPU kernels and torch" if original.get("machine") and again.get("machine")
                 else
                 f"; {name if not original.get('machine') else 'this rerun'} did not record its machine")
        text = f"Against {name}: not reproduced: " + "; ".join(what) + where + "."
    out["text"] = text
    return out


def _pct(v) -> str:
    return "-" if v is None else f"{100 * float(v):.2f}%"
