"""What a probe run's figures do not say by themselves: caveats read from the run's own record (its settings and its
head's stopping report; no test data looked at), for the CLI (``probe``: "caveat:" lines, ``caveats`` in --json) and
the Probe workspace (the Results header; the Run panel's ready line before a run).

API::

    views_caveat(dataset, tta)   # before a run: a caveat of test-time views on that dataset, or None
    caveats(record)              # after a run: the caveats of a result's dict (ProbeResult.to_dict or a stored run)
"""

from __future__ import annotations

from typing import Any

# built-in datasets whose classes are symbols with a handedness: a left-right mirror image is another shape (a
# mirrored 2, 3, 4, 7 or 9 is no digit), so averaging each image with its mirror mixes in features of a non-digit
MIRROR_SENSITIVE = {"digits": "handwritten digits", "mnist": "handwritten digits"}


def views_caveat(dataset: str | None, tta: str | None) -> str | None:
    """A caveat of test-time views ``tta`` (app.probe.config.TTA) on ``dataset``, or None. Measured (rdsn, the
    probe's defaults, digits): validation top-1 97.8% with one view, 94.8% with mirror views."""
    name = str(dataset or "").strip().lower()
    kind = MIRROR_SENSITIVE.get(name)
    if tta == "hflip" and kind is not None:
        return (f"mirror views on {dataset}: {kind} are not left-right symmetric (a mirrored 2 or 7 is another "
                f"shape), so the views usually lower accuracy; compare with one view (--tta none)")
    if tta == "shift1" and name == "digits":
        # measured (an audit, rdsn defaults): ridge validation 98.88% -> 97.03%, logistic 97.77% -> 94.42%
        return ("one-pixel shift views on digits: its images are 8x8, so a one-pixel shift moves an eighth of the "
                "image (the views were chosen for MNIST's 28x28), and they usually lower accuracy here; compare with "
                "one view (--tta none)")
    return None


def _stop_caveat(stop: dict, epochs: Any) -> str | None:
    value, tol = stop.get("value"), stop.get("tolerance")
    if stop.get("converged") is not False or value is None or tol is None:
        return None  # converged, or a head without a tolerance (closed form, kNN, a fixed number of Adam epochs)
    it = int(stop.get("iterations") or 0)
    where = f"{stop.get('criterion') or 'stopping criterion'} {float(value):.2g}, tolerance {float(tol):g}"
    gap, gap_tol = stop.get("duality_gap"), stop.get("gap_tolerance")
    if gap is not None and gap_tol is not None and float(gap) > float(gap_tol):
        # the gradient rule may hold while the gap (the bound on the distance from the optimum) does not
        where += f"; relative duality gap {float(gap):.2g}, tolerance {float(gap_tol):g}"
    try:
        capped = epochs is not None and it >= int(epochs)
    except (TypeError, ValueError):
        capped = False
    if capped:
        return (f"the head stopped at its iteration cap ({it}) before reaching its tolerance ({where}): the figures "
                f"may move with more iterations (Max iterations; probe --head-options epochs=N)")
    return (f"the head stopped after {it} iterations without reaching its tolerance ({where}): its optimiser made "
            f"no further progress")


def stop_text(stop: Any) -> str:
    """How the selected fit stopped, in one line, from its stop report: "converged after 16 iterations (max |gradient|
    8.1e-05 <= 0.0001, duality gap 0.052 <= 0.1)"; "closed form"; "" for a head without a rule (k-NN) or an older
    record without one. A fit that did not converge says only where it stopped (its caveat says why it matters)."""
    if not isinstance(stop, dict) or not stop.get("criterion") or stop.get("criterion") == "none":
        return ""
    if stop.get("criterion") == "closed form":
        return "closed form (no iterations)"
    it = int(stop.get("iterations") or 0)
    its = f"{it} iteration{'' if it == 1 else 's'}"
    value, tol = stop.get("value"), stop.get("tolerance")
    if value is None or tol is None:  # a fixed number of epochs (Adam)
        return f"{stop.get('criterion')}: {its}"
    name = "max |gradient|" if stop.get("criterion") == "max |gradient|" else "gradient ratio"
    parts = [f"{name} {float(value):.2g} {'<=' if float(value) <= float(tol) else '>'} {float(tol):g}"]
    gap, gap_tol = stop.get("duality_gap"), stop.get("gap_tolerance")
    certain = True
    if gap is not None and gap_tol is not None:
        parts.append(f"duality gap {float(gap):.2g} {'<=' if float(gap) <= float(gap_tol) else '>'} {float(gap_tol):g}")
    elif gap_tol is not None and "duality_gap" in stop:
        parts.append("no duality gap without weight decay")
        certain = False  # no optimum is certain: where the gradient rule stopped it, not "converged"
    done = "converged" if stop.get("converged") and certain else "stopped"
    return f"{done} after {its} ({', '.join(parts)})"


def caveats(record: dict) -> list[str]:
    """The caveats of one run, from its dict (a just-finished ``ProbeResult.to_dict()`` or a stored run; fields an
    older record lacks give no caveat)."""
    record = record or {}
    res = record.get("resolved") if isinstance(record.get("resolved"), dict) else {}
    settings = record.get("settings") if isinstance(record.get("settings"), dict) else {}
    cfg = record.get("config") if isinstance(record.get("config"), dict) else {}
    out: list[str] = []
    tta = res.get("tta") or settings.get("tta") or cfg.get("tta")
    dataset = res.get("dataset") or cfg.get("dataset")
    views = views_caveat(dataset, tta)
    if views:
        out.append(views)
    head_options = res.get("head_options") or settings.get("head_options") or {}
    stop = record.get("stop") if isinstance(record.get("stop"), dict) else {}
    halted = _stop_caveat(stop, head_options.get("epochs") if isinstance(head_options, dict) else None)
    if halted:
        out.append(halted)
    elif stop.get("gap_tolerance") is not None and "duality_gap" in stop and stop.get("duality_gap") is None:
        # the logistic head without weight decay: no duality gap, no optimum that is certain to exist
        out.append("no weight decay: the head's objective has no certain optimum (a training set that a linear head "
                   "separates has none, and the weights grow while the fit goes on), so its figures are where the "
                   "optimiser stopped; a small weight decay (or the sweep's) gives a fit that can be checked")
    notes = settings.get("data_notes")  # what loading the dataset said: files skipped or resized, classes missing
    if isinstance(notes, list) and notes:
        more = f" (and {len(notes) - 1} more: python main.py data info {dataset} lists them)" if len(notes) > 1 else ""
        out.append(f"the dataset's loading note{'s' if len(notes) > 1 else ''}: {notes[0]}{more}")
    budget = settings.get("feature_budget_note")  # --feature-budget at least the feature count: not applied
    if isinstance(budget, str) and budget:
        out.append(budget)
    whiten = settings.get("whiten_note")  # stem whitening asked, but the stem could not take it
    if isinstance(whiten, str) and whiten:
        out.append(whiten)
    refit = refit_text(settings.get("refit"))
    if refit:
        out.append(refit)
    return out


def refit_text(refit: Any) -> str | None:
    """What a refit run's two figures are (``settings["refit"]``, app.probe.selection), or None without one."""
    if not isinstance(refit, dict) or not refit.get("rows"):
        return None
    value = next(((k, v) for k, v in refit.items() if k in ("weight_decay", "C", "alpha", "k")), None)
    chosen = "" if value is None else f" at the chosen {value[0]} = {value[1]:g}"
    its = refit.get("iterations")
    fit = "" if its is None else f", {its} iteration{'s' if its != 1 else ''}" + (
        " from the chosen fit's weights" if refit.get("warm_start") else "")
    return (f"refit: the test figure is the head fitted again{chosen} on {refit['rows']:,} images (the "
            f"{refit.get('train_rows', 0):,} training + {refit.get('val_rows', 0):,} validation images{fit}); the "
            f"validation figure is the fit on the training images alone, which chose it (the refit has seen the "
            f"validation images)")
