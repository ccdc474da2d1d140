"""The error bars of the Experiments workspace's plot: what each plotted point's bar is (the spread over seeds, or
a one-result point's test-set sampling error: its standard error, or its Wilson interval where an s.e. says too
little: ``PointError``, ``point_errors``, ``wilson``, ``bar_ends``), the text a point and the line under the plot
give about it (``_value``, ``bars_note``), and the bars drawn without a cap where a point has none (``_Bars``)."""

from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg

from app.metrics import accuracy_interval, normal_enough, spread_text


def _value(mean: float, spread: float, info: "PointError | None" = None) -> str:
    """A point's accuracy in percent, with its spread over seeds where there is one, or the test set's sampling error
    where the point is one result (``info``: ``point_errors``): its standard error, or its Wilson 95% interval where
    the s.e. says too little (``wilson``: "100.00% ± 0.00" claimed a certainty 50 images do not give)."""
    if info is not None and info.results <= 1 and info.se is not None:
        if wilson(info, mean / 100) is not None:  # (the same rule and text as the reports': ``spread_text``)
            p = info.accuracy if info.accuracy is not None else mean / 100
            return f"{mean:.2f}%, {spread_text(p, info.n_test)} (Wilson, {info.n_test:,} images)"
        return f"{mean:.2f}% ± {100 * info.se:.2f} (test-set standard error, {info.n_test:,} images)"
    return f"{mean:.2f}%" + (f" ± {spread:.2f} (spread over seeds)" if spread else "")


BINOMIAL = ("test_top1", "top2", "top5")  # the metrics whose sampling error is a binomial's on the cell's test images


@dataclass(frozen=True)
class PointError:
    """What a plotted point's error bar can be: ``results`` distinct results behind it (seeds that give the very same
    figures count once: ``app.experiments.results.groups``), ``seeds`` the cells planned for it, and, where it is one
    result, its test set's binomial standard error ``se`` (a fraction, ``app.metrics.standard_error``) on ``n_test``
    images of its figure ``accuracy`` (a fraction); None where the cell recorded no test count (a training cell) or
    the metric is not a test accuracy."""

    results: int
    seeds: int
    se: float | None = None
    n_test: int | None = None
    accuracy: float | None = None


def wilson(info: PointError | None, accuracy: float | None = None) -> tuple[float, float] | None:
    """The Wilson 95% interval (fractions, ``app.metrics.accuracy_interval``) that is a one-result point's bar where
    its standard error says too little (``app.metrics.normal_enough`` false: fewer than 10 test images right or
    wrong, near 0% or 100% or on few images; 50 of 50 right has an s.e. of 0, which claims certainty); None where the
    bar is the s.e., the spread over seeds, or none. ``accuracy``: the point's figure where ``info`` has none."""
    if info is None or info.results > 1 or info.se is None or not info.n_test:
        return None
    p = info.accuracy if info.accuracy is not None else accuracy
    if p is None or normal_enough(p, info.n_test):
        return None
    return accuracy_interval(p, info.n_test)


def bar_ends(mean: float, spread: float, info: PointError | None) -> tuple[float, float]:
    """A point's error bar as its lengths (below, above) the point, in points (``mean`` in %, ``spread`` a fraction):
    where it is one result, its Wilson interval (``wilson``: lopsided near 0% or 100%) or its test-set standard error
    (0 where neither is known: no bar), else its spread over seeds."""
    if info is not None and info.results <= 1:
        ci = wilson(info, mean / 100)
        if ci is not None:
            return max(0.0, mean - 100 * ci[0]), max(0.0, 100 * ci[1] - mean)
        return (100 * info.se,) * 2 if info.se is not None else (0.0, 0.0)
    return (100 * spread,) * 2


def point_errors(result) -> dict[tuple[str, str], PointError]:
    """(series name, str(x)) -> ``PointError`` of every point with a finished cell, as ``plot_series`` names and
    places the points. Several distinct results: the bar is the report's spread (the std over seeds, in the series);
    one: the test-set sampling error of that result (its s.e., or its Wilson interval: ``wilson``), which the
    report's table (one figure, no spread) leaves out."""
    from app.experiments.results import _flatten, groups, metric_value, planned_x
    from app.metrics import standard_error

    p = result.recipe.plot or {}
    y = p.get("y", "test_top1")
    series_key = p.get("series", "variant")
    gs = groups(result)
    out: dict[tuple[str, str], PointError] = {}
    for g, xv in zip(gs, planned_x(result, gs)):
        ok = [r for c in g["cells"] if "error" not in (r := result.results.get(c["key"], {"error": "not run"}))]
        if not ok:
            continue
        flat = _flatten(g["cells"][0]["settings"])
        name = (g["variant"] if series_key == "variant" else str(flat.get(series_key))) or "ours"
        results = 1 if g.get("identical") else int(g.get("n_distinct", len(ok)))
        se = n = acc = None
        if results <= 1 and y in BINOMIAL:
            n = ok[0].get("n_test")
            acc = metric_value(ok[0], y)
            se = standard_error(acc, n)
        out[(name, str(xv))] = PointError(results, len(g["cells"]), se, int(n) if se is not None else None,
                                          float(acc) if se is not None else None)
    return out


def bars_note(infos: list[PointError]) -> str:
    """The line under the plot that says what its bars are, for the points drawn (``infos``); "" for none."""
    if not infos:
        return ""
    one = [i for i in infos if i.results <= 1]
    se = [i for i in one if i.se is not None]
    ns = sorted({i.n_test for i in se})
    on = f"on {ns[0]:,} test images" if len(ns) == 1 else "on each cell's test images"
    ci = sum(wilson(i) is not None for i in se)
    # (where fewer than 10 test images are right or wrong, the Wilson interval: ``wilson``, as the reports do)
    se_text = f"the test-set standard error (± 1 s.e., binomial, {on})"
    if ci == len(se) and ci:
        se_text = (f"the Wilson 95% interval of the test-set accuracy (binomial, {on}: fewer than 10 right or wrong, "
                   "where an s.e. would claim too much certainty)")
    elif ci:
        se_text += (", or the Wilson 95% interval where fewer than 10 images are right or wrong (an s.e. there would "
                    "claim too much certainty)")
    missing = "" if len(se) == len(one) else " (none where a cell recorded no test-image count)"
    if len(one) == len(infos):
        who = "One seed" if all(i.seeds <= 1 for i in one) else "One result per point"
        if not se:
            return (f"{who}, and no test-image count recorded: no error bars; a difference of a point or two may "
                    "be chance.")
        return f"{who}: bars are {se_text}{missing}; points whose bars overlap are not told apart."
    many = "Bars: ± std over seeds (the report's spread)"
    if not one:
        return many + "."
    return f"{many}; a point with one result: {se_text}{missing}."


class _Bars(pg.ErrorBarItem):
    """Error bars with caps, where a bar of zero length (a point without a spread or a known error) draws nothing: no
    cap across its point as if a bar were there. Its data (``opts``) stay whole, one entry per point."""

    def drawPath(self) -> None:
        import numpy as np

        o = self.opts
        size = o["height"] if o["height"] is not None else o["width"]
        if size is None or o["x"] is None or o["y"] is None or np.ndim(size) == 0:
            return super().drawPath()
        keep = np.asarray(size) > 0
        if keep.all():
            return super().drawPath()
        whole = {k: o[k] for k in ("x", "y", "height", "width")}
        for k, v in whole.items():
            if v is not None and np.ndim(v) > 0:
                o[k] = np.asarray(v)[keep]
        try:
            super().drawPath()
        finally:
            o.update(whole)
