"""A small, dependency-free SVG chart for reports: lines (or dots when x is categorical) with error bars and a line
that says what they are, a legend, optional log x axis, and reference points (a paper's figures) drawn as hollow
diamonds."""

from __future__ import annotations

import math
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for m in (1, 2, 5, 10):
        if (hi - lo) / (step * m) <= n:
            step *= m
            break
    start = math.ceil(lo / step) * step
    out, v = [], start
    while v <= hi + 1e-12:
        out.append(round(v, 10))
        v += step
    return out


def chart(series: dict[str, list[tuple[object, float, float]]], *, title: str = "", x_label: str = "",
          y_label: str = "", log_x: bool = False, refs: list[tuple[str, object, float]] | None = None,
          width: int = 640, height: int = 360, percent: bool = True) -> str:
    """``series``: name -> [(x, mean, std)], std the sample std over seeds (``plot_series``). x numeric -> lines;
    otherwise categories -> dots side by side. ``refs``: (label, x or None, value) reference points (x None: a
    horizontal dashed line). A point's bar is ± 1 std, none where std is 0 (one seed, or seeds that agree), and a
    line at the foot says so (``bars_caption``): the file may be read without the report's heading that says it."""
    refs = refs or []
    xs_all = [x for pts in series.values() for x, _, _ in pts]
    numeric = bool(xs_all) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs_all)
    cats = [] if numeric else list(dict.fromkeys(str(x) for x in xs_all))
    ys = [m + s for pts in series.values() for _, m, s in pts] + [m - s for pts in series.values() for _, m, s in pts]
    ys += [v for _, _, v in refs]
    y_lo, y_hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
    pad = 0.05 * (y_hi - y_lo or 1.0)
    y_lo, y_hi = y_lo - pad, y_hi + pad
    caption = bars_caption([s for pts in series.values() for _, _, s in pts])  # a line at the foot: what bars are
    L, R, T, B = 64, 150, 34, (46 if numeric else 58) + (14 if caption else 0)  # (categories: names on two lines)
    pw, ph = width - L - R, height - T - B

    def fy(v: float) -> float:
        return T + ph * (1 - (v - y_lo) / (y_hi - y_lo or 1.0))

    if numeric:
        xv = [float(x) for x in xs_all] + [float(x) for _, x, _ in refs if isinstance(x, (int, float))]
        if log_x:
            xv = [math.log10(max(v, 1e-12)) for v in xv]
        x_lo, x_hi = min(xv), max(xv)
        if x_hi == x_lo:
            x_lo, x_hi = x_lo - 1, x_hi + 1
        xpad = 0.04 * (x_hi - x_lo)
        x_lo, x_hi = x_lo - xpad, x_hi + xpad

        def fx(x: object) -> float:
            v = float(x)
            v = math.log10(max(v, 1e-12)) if log_x else v
            return L + pw * (v - x_lo) / (x_hi - x_lo)
    else:
        def fx(x: object) -> float:
            i = cats.index(str(x)) if str(x) in cats else 0
            return L + pw * (i + 0.5) / max(1, len(cats))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    if title:
        out.append(f'<text x="{L}" y="18" font-size="13" font-weight="bold">{escape(title)}</text>')
    for t in _ticks(y_lo, y_hi):
        y = fy(t)
        lab = f"{100 * t:.1f}%" if percent else f"{t:.3g}"
        out.append(f'<line x1="{L}" x2="{L + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{L - 6}" y="{y + 4:.1f}" text-anchor="end">{lab}</text>')
    out.append(f'<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>')
    if numeric:
        xs_u = sorted(set(float(x) for x in xs_all))
        for x in xs_u:
            out.append(f'<text x="{fx(x):.1f}" y="{T + ph + 16}" text-anchor="middle">{x:g}</text>')
    else:
        room = pw / max(1, len(cats)) / 6.2  # the characters a category's width holds (11 px sans-serif)
        for c in cats:
            lines = [c[:36]]
            if len(c) > room and " " in c[:36]:  # two lines, split at the space nearest the middle
                cut = min((i for i, ch in enumerate(c[:36]) if ch == " "), key=lambda i: abs(i - len(c[:36]) / 2))
                lines = [c[:cut], c[cut + 1:36]]
            for k, line in enumerate(lines):
                out.append(f'<text x="{fx(c):.1f}" y="{T + ph + 16 + 12 * k}" text-anchor="middle">'
                           f'{escape(line)}</text>')
    if x_label:
        out.append(f'<text x="{L + pw / 2}" y="{height - 8 - (14 if caption else 0)}" text-anchor="middle">'
                   f'{escape(x_label)}{" (log scale)" if log_x and numeric else ""}</text>')
    if y_label:
        out.append(f'<text x="14" y="{T + ph / 2}" transform="rotate(-90 14 {T + ph / 2})" '
                   f'text-anchor="middle">{escape(y_label)}</text>')
    for si, (name, pts) in enumerate(series.items()):
        col = PALETTE[si % len(PALETTE)]
        if numeric:
            pts = sorted(pts, key=lambda p: float(p[0]))
            path = " ".join(f"{'M' if i == 0 else 'L'}{fx(x):.1f},{fy(m):.1f}" for i, (x, m, _) in enumerate(pts))
            out.append(f'<path d="{path}" fill="none" stroke="{col}" stroke-width="2"/>')
            for x, m, s in pts:
                cx = fx(x)
                if s > 0:
                    out.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{fy(m - s):.1f}" y2="{fy(m + s):.1f}" '
                               f'stroke="{col}"/>')
                out.append(f'<circle cx="{cx:.1f}" cy="{fy(m):.1f}" r="3.5" fill="{col}"/>')
        else:
            # categories: a dot (with its spread) per series, not a bar: the axis does not start at zero, and a
            # bar from its bottom made 91% look a twentieth of 98% (an audit, 2026-12-03)
            for x, m, s in pts:  # side by side within its category: the series that have a point there
                there = [j for j, p in enumerate(series.values()) if any(str(q[0]) == str(x) for q in p)]
                bw = pw / max(1, len(cats)) * 0.8 / max(1, len(there))
                cx = fx(x) - 0.4 * pw / max(1, len(cats)) + bw * (there.index(si) + 0.5)
                if s > 0:
                    out.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{fy(m - s):.1f}" y2="{fy(m + s):.1f}" '
                               f'stroke="{col}" stroke-width="1.5"/>')
                out.append(f'<circle cx="{cx:.1f}" cy="{fy(m):.1f}" r="4.5" fill="{col}"/>')
        ly = T + 14 + 16 * si
        out.append(f'<rect x="{L + pw + 10}" y="{ly - 9}" width="10" height="10" fill="{col}"/>')
        out.append(f'<text x="{L + pw + 24}" y="{ly}">{escape(str(name)[:20])}</text>')
    for ri, (label, x, v) in enumerate(refs):
        if x is None or not numeric and str(x) not in cats:
            y = fy(v)
            out.append(f'<line x1="{L}" x2="{L + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#555" stroke-dasharray="5,4"/>')
            out.append(f'<text x="{L + pw - 4}" y="{y - 4:.1f}" text-anchor="end" fill="#555">'
                       f'{escape(label[:40])}</text>')
        else:
            cx, cy = fx(x), fy(v)
            out.append(f'<path d="M{cx:.1f},{cy - 6:.1f} L{cx + 6:.1f},{cy:.1f} L{cx:.1f},{cy + 6:.1f} '
                       f'L{cx - 6:.1f},{cy:.1f} Z" fill="none" stroke="black" stroke-width="1.5"/>')
    if refs:
        ly = T + 14 + 16 * len(series)
        out.append(f'<path d="M{L + pw + 15},{ly - 10} L{L + pw + 20},{ly - 5} L{L + pw + 15},{ly} '
                   f'L{L + pw + 10},{ly - 5} Z" fill="none" stroke="black"/>')
        out.append(f'<text x="{L + pw + 24}" y="{ly - 1}">paper</text>')
    if caption:
        out.append(f'<text x="8" y="{height - 6}" fill="#555">{escape(caption)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def bars_caption(spreads: list[float]) -> str:
    """What ``chart``'s error bars are, the line at its foot, from the points' spreads (``spreads``: each point's
    std over seeds; a bar is drawn where it is above 0): ± 1 std over seeds, and which points have none (their seeds
    gave one figure: one seed, or seeds that do not reach the cell); "" without points."""
    if not spreads:
        return ""
    if not any(s > 0 for s in spreads):
        return "no error bars: one seed per point (or seeds that gave the same figures)"
    if all(s > 0 for s in spreads):
        return "error bars: ± 1 std over seeds"
    return "error bars: ± 1 std over seeds; no bar: one seed (or seeds that gave the same figures)"


def delta_chart(rows: list[dict], *, metrics: tuple[str, ...] = ("test top-1", "validation top-1"), title: str = "",
                width: int = 760) -> str:
    """An ablation chart: one row per arm, horizontal bars of each metric's change against the arm's baseline, in
    points (zero = the baseline; left = the ingredient helped), with the spread over seeds as error bars and the
    values written beside them. ``rows``: ``{"label", "baseline": bool, "values": [(mean, std) per metric],
    "deltas": [(mean, std) | None per metric], "mark": "" | "*" | "**"}`` (fractions; a baseline row shows its values,
    no bar; a mark after the label says the change is beyond chance in some / every seed, a legend under the axis)."""
    n_m = max(1, len(metrics))
    bar_h, gap = 11, 10
    row_h = n_m * bar_h + gap
    L, R, T = 190, 230, 50
    pw = width - L - R
    ph = max(1, len(rows)) * row_h
    marked = any(r.get("mark") for r in rows)
    height = T + ph + (72 if marked else 40)
    d_all = [d[0] + s * d[1] for r in rows for d in (r.get("deltas") or []) if d is not None and not math.isnan(d[0])
             for s in (-1, 1)]
    lo, hi = min(d_all + [0.0]), max(d_all + [0.0])
    span = (hi - lo) or 0.01
    lo, hi = lo - 0.06 * span, hi + 0.06 * span

    def fx(v: float) -> float:
        return L + pw * (v - lo) / (hi - lo)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>']
    if title:
        out.append(f'<text x="8" y="18" font-size="13" font-weight="bold">{escape(title)}</text>')
    x = L
    for mi, m in enumerate(metrics):
        out.append(f'<rect x="{x}" y="28" width="10" height="10" fill="{PALETTE[mi % len(PALETTE)]}"/>')
        out.append(f'<text x="{x + 14}" y="37">{escape(m)}</text>')
        x += 14 + 7 * len(m) + 24
    out.append(f'<text x="{L + pw + 8}" y="37" fill="#555">value (change)</text>')
    for t in _ticks(lo * 100, hi * 100, 6):
        x = fx(t / 100)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{T}" y2="{T + ph}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{x:.1f}" y="{T + ph + 14}" text-anchor="middle">{t:+g}</text>'
                   if t else f'<text x="{x:.1f}" y="{T + ph + 14}" text-anchor="middle">0</text>')
    out.append(f'<text x="{L + pw / 2}" y="{T + ph + 32}" text-anchor="middle">accuracy change vs. the baseline '
               f'arm above it (percentage points; mean ± std over seeds)</text>')
    if any(r.get("mark") for r in rows):
        out.append(f'<text x="8" y="{T + ph + 50}" fill="#555">** / *: a change beyond chance in every seed / in '
                   f'some seed (McNemar\'s test on the same test images,</text>')
        out.append(f'<text x="8" y="{T + ph + 64}" fill="#555">its p adjusted for all the chart\'s comparisons by '
                   f'Holm\'s method, below 0.05)</text>')
    for i, r in enumerate(rows):
        y0 = T + i * row_h + gap / 2
        if r.get("baseline"):
            if i:
                out.append(f'<line x1="4" x2="{width - 4}" y1="{y0 - gap / 2:.1f}" y2="{y0 - gap / 2:.1f}" '
                           f'stroke="#999"/>')
            out.append(f'<rect x="{L}" y="{y0 - 3:.1f}" width="{pw}" height="{row_h - gap + 6}" fill="#f3f3f3"/>')
        weight = ' font-weight="bold"' if r.get("baseline") else ""
        mark = f' {r["mark"]}' if r.get("mark") else ""
        out.append(f'<text x="{L - 8}" y="{y0 + n_m * bar_h / 2 + 4:.1f}" text-anchor="end"{weight}>'
                   f'{escape(str(r["label"])[:30] + mark)}</text>')
        values = r.get("values") or []
        deltas = r.get("deltas") or []
        for mi in range(n_m):
            col = PALETTE[mi % len(PALETTE)]
            yb = y0 + mi * bar_h
            m, s = values[mi] if mi < len(values) else (float("nan"), 0.0)
            d = deltas[mi] if mi < len(deltas) else None
            text = "-" if math.isnan(m) else f"{100 * m:.2f}%" + (f" ± {100 * s:.2f}" if s > 0 else "")
            if d is not None and not math.isnan(d[0]):
                x0, x1 = sorted((fx(0.0), fx(d[0])))
                out.append(f'<rect x="{x0:.1f}" y="{yb + 1:.1f}" width="{max(1.0, x1 - x0):.1f}" '
                           f'height="{bar_h - 2}" fill="{col}" opacity="0.85"/>')
                if d[1] > 0:
                    yc = yb + bar_h / 2
                    out.append(f'<line x1="{fx(d[0] - d[1]):.1f}" x2="{fx(d[0] + d[1]):.1f}" y1="{yc:.1f}" '
                               f'y2="{yc:.1f}" stroke="black"/>')
                text += f" ({100 * d[0]:+.2f})"
            out.append(f'<text x="{L + pw + 8}" y="{yb + bar_h - 2:.1f}" fill="{col}">{escape(text)}</text>')
    zx = fx(0.0)
    out.append(f'<line x1="{zx:.1f}" x2="{zx:.1f}" y1="{T}" y2="{T + ph}" stroke="#333"/>')
    out.append(f'<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>')
    out.append("</svg>")
    return "\n".join(out)
