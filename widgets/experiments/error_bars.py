"""The error bars of the Experiments workspace's plot: what each plotted point's bar is (the spread over seeds, or
a one-result point's test-set standard error: ``PointError``, ``point_errors``), the text a point and the line under
the plot give about it (``_value``, ``bars_note``), and the bars drawn without a cap where a point has none
(``_Bars``)."""

from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg


def _value(mean: float, spread: float, info: "PointError | None" = None) -> str:
    """A point's accuracy in percent, with its spread over seeds where there is one, or the test set's standard error
    where the point is one result (``info``: ``point_errors``)."""
    if info is not None and info.results <= 1 and info.se is not None:
        return f"{mean:.2f}% ± {100 * info.se:.2f} (test-set standard error, {info.n_test:,} images)"
    return f"{mean:.2f}%" + (f" ± {spread:.2f} (spread over seeds)" if spread else "")


BINOMIAL = ("test_top1", "top2", "top5")  # the metrics whose sampling error is a binomial's on the cell's test images


@dataclass(frozen=True)
class PointError:
    """What a plotted point's error bar can be: ``results`` distinct results behind it (seeds that give the very same
    figures count once: ``app.experiments.results.groups``), ``seeds`` the cells planned for it, and, where it is one
    result, its test set's binomial standard error ``se`` (a fraction, ``app.metrics.standard_error``) on ``n_test``
    images; None where the cell recorded no test count (a training cell) or the metric is not a test accuracy."""

    results: int
    seeds: int
    se: float | None = None
    n_test: int | None = None


def point_errors(result) -> dict[tuple[str, str], PointError]:
    """(series name, str(x)) -> ``PointError`` of every point with a finished cell, as ``plot_series`` names and
    places the points. Several distinct results: the bar is the report's spread (the std over seeds, in the series);
    one: the test-set standard error of that result, which the report's table (one figure, no spread) leaves out."""
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
        se = n = None
        if results <= 1 and y in BINOMIAL:
            n = ok[0].get("n_test")
            se = standard_error(metric_value(ok[0], y), n)
        out[(name, str(xv))] = PointError(results, len(g["cells"]), se, int(n) if se is not None else None)
    return out


def bars_note(infos: list[PointError]) -> str:
    """The line under the plot that says what its bars are, for the points drawn (``infos``); "" for none."""
    if not infos:
        return ""
    one = [i for i in infos if i.results <= 1]
    se = [i for i in one if i.se is not None]
    ns = sorted({i.n_test for i in se})
    on = f"on {ns[0]:,} test images" if len(ns) == 1 else "on each cell's test images"
    se_text = f"the test-set standard error (± 1 s.e., binomial, {on})"
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
