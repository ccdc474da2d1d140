"""The notes a probe run's selection earns: what validation said of each value of the selected hyperparameter
(``selection_note``) and what the training curves of the selected fit show (``curve_note``). Read from the run's own
record (its ``selection`` table and each value's iteration count); for the CLI (``probe``), the history and the Probe
workspace. (Moved out of ``app.probe.config``, which re-exports both.)
"""

from __future__ import annotations

# the hyperparameter of each head that is selected on validation (``app.probe.selection.select_and_fit``); its home,
# re-exported by ``app.probe.config``
HYPERPARAMETER = {"logistic": "weight_decay", "svm": "C", "ridge": "alpha", "knn": "k"}


FEW_ITERATIONS = 10  # a warm-started fit shorter than this stopped near the previous value's solution


def best_of_count(table) -> int:
    """How many fits a run's validation figure is the best of: the scored values of its ``selection`` table."""
    return sum(1 for row in (table or ()) if len(row) == 2 and row[1] is not None)


def best_of_text(table, select=()) -> str:
    """"best of 5" when a run's validation figure is the best of several fits scored on those very validation images
    (the values of its ``selection`` table; ``select``: the record's "layer" / "pooling", chosen the same way):
    such a maximum reads high, and a binomial interval around it ignores the choice; "" for a single fit."""
    k = best_of_count(table)
    chose = [f"{w}s" for w in ("layer", "pooling") if w in (select or ())]
    if k < 2 and not chose:
        return ""
    text = f"best of {k}" if k >= 2 else "best"
    return text + (" and of the " + " and ".join(chose) if chose else "")


def _value_text(v) -> str:
    return f"{v:g}" if isinstance(v, (int, float)) else str(v)


def selection_note(table, iterations=(), stop: dict | None = None) -> str:
    """What validation said of each value of the selected hyperparameter, in sweep order (strongest regularisation
    first), e.g. "1e-3: 99.10%, 1e-4: 99.10%, 1e-5: 99.08%; 2 tie at the best, the first swept kept". ``table``: the
    run's ``selection`` ((value, validation top-1) pairs); "" for fewer than two values (nothing was chosen).
    ``iterations``: the run's ``selection_iterations`` (each value's fit, aligned with ``table``): a value after the
    first whose fit needed no iteration started within the head's tolerance from the previous value's solution (the
    sweep's warm start), so its model is that solution; the note names such values. A best value at either end of
    the grid (strictly above its neighbour) is said to be there: the optimum may lie beyond what was tried. ``stop``:
    the run's stop report; a sweep whose warm starts stopped at a scaled tolerance (``stop["warm_rule"] ==
    "scaled"``, ``app.probe.heads.warm_tolerance``; runs since 2026-12-03) fitted each value as closely as a fit from
    zero does, so its short warm-started fits are not called rough (older runs' are)."""
    pairs = [(v, a) for v, a in (table or ())]
    its = list(iterations or ())
    its = its if len(its) == len(pairs) else [None] * len(pairs)
    rows = [(v, float(a), it) for (v, a), it in zip(pairs, its) if a is not None]
    if len(rows) < 2:
        return ""
    best = max(a for _, a, _ in rows)
    text = ", ".join(f"{_value_text(v)}: {100 * a:.2f}%" for v, a, _ in rows)
    tied = sum(1 for _, a, _ in rows if a == best)
    if tied == len(rows):
        text = f"{text}; all {tied} tie: the grid did not choose, the first swept kept"
    elif tied > 1:
        text = f"{text}; {tied} tie at the best, the first swept kept"
    # the chosen value at an end of the grid, strictly better than its neighbour: the optimum may lie beyond it
    if rows[-1][1] == best and rows[-2][1] < best and tied == 1:
        if rows[-1][0] == 0:  # a weight decay of 0 (the only hyperparameter that may be 0): nothing weaker exists
            text += "; the best is the grid's last value, 0 (no regularisation at all)"
        else:
            text += "; the best is the grid's last value (its weakest regularisation): a weaker one was not tried"
    elif rows[0][1] == best and rows[1][1] < best:
        text += "; the best is the grid's first value (its strongest regularisation): a stronger one was not tried"
    same = [_value_text(v) for v, _, it in rows[1:] if it == 0]
    if same:
        text += (f"; {', '.join(same)} {'was' if len(same) == 1 else 'were'} already within the head's tolerance at "
                 f"the previous value's solution (warm start): the same model")
    # a few iterations from the previous value's solution: stopped by the tolerance, not at that value's own optimum
    # (an audit: on digits 0.01 and 0.001 moved 6 and 3 iterations and tied with 0.1; fitted to a tolerance of
    # 1e-7 they score 0.4-0.7 points higher): a tie there is the optimiser's, not the validation split's
    scaled = isinstance(stop, dict) and stop.get("warm_rule") == "scaled"
    # Adam runs a fixed number of epochs (no tolerance stopped it): the advice is L-BFGS's
    adam = isinstance(stop, dict) and str(stop.get("criterion") or "").endswith("(Adam)")
    near = [] if scaled or adam else [(v, it) for v, _, it in rows[1:] if it is not None and 0 < it < FEW_ITERATIONS]
    if near:
        text += (f"; {', '.join(_value_text(v) for v, _ in near)} moved only "
                 f"{', '.join(str(it) for _, it in near)} iteration(s) from the previous value's solution (warm "
                 f"start): the head's tolerance stopped {'it' if len(near) == 1 else 'them'} near that solution, "
                 f"not at "
                 f"{'its' if len(near) == 1 else 'their'} own optimum, so these figures compare the values only "
                 f"roughly; a tighter tolerance fits them apart (tol=1e-6 in the head options: probe --head-options "
                 f"tol=1e-6)")
    return text



def curve_note(head: str, selected: dict | None, table, iterations=()) -> str:
    """What a run's training curves show when a sweep chose its hyperparameter: the selected value's fit, started
    from the previous value's solution, e.g. "weight_decay 1e-05 (from 0.0001) in 1 iteration" (a short
    curve, a single point, is that fit's whole length); "" for a head without iterations (ridge, k-NN), when nothing
    was selected or when the selected value was the sweep's first (its fit started from zero, as a plain fit does)."""
    values = [v for v, _ in (table or ())]
    its = list(iterations or ())
    if head not in ("logistic", "svm") or len(values) < 2 or not selected:
        return ""
    key = next((k for k in selected if k in HYPERPARAMETER.values()), None)  # not the layer or pooling chosen
    value = selected.get(key)
    i = next((j for j, v in enumerate(values) if _value_text(v) == _value_text(value)), None)
    if key is None or not i:
        return ""
    n = its[i] if len(its) == len(values) else None
    steps = "" if n is None else f" in {n} iteration{'s' if n != 1 else ''}"
    return f"{key} {_value_text(value)} (from {_value_text(values[i - 1])}){steps}"
