"""The receptive field of a layer's units, measured, not assumed (``receptive_field``): the input pixels that can change
a unit are where its gradient is not zero at some of a few random inputs (at a blank input BatchNorm, ReLUs and sign
give no gradient, and max-pooling passes it to one element); step functions and max-pooling are made to pass
gradients on for the measurement, and layers with no gradient at all (comparisons, non-torch code) are measured by
perturbing the input. A few positions are measured; where they follow one translation (any padding, stride or
pooling) they give every position's box, else each needed position is measured (``box_for``, ``boxes_for``). Boxes
are (top, left, bottom, right) in input pixels, end-exclusive, clipped to the image. Used by the top-activating
patches (``app.analysis.patches``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from app.analysis.rf_measure import BUDGET, N_INPUTS, PERTURB_INPUTS, ROUNDS, SEED, _boxes, _Probe

# the constants of the measurement stay importable from here (the boxes are measured in ``app.analysis.rf_measure``)
__all__ = ["RF", "receptive_field", "box_for", "boxes_for", "BEYOND_SCALES", "BEYOND_PIXELS",
           "N_INPUTS", "ROUNDS", "SEED", "PERTURB_INPUTS", "BUDGET"]


@dataclass(frozen=True)
class RF:
    """A layer's receptive field, measured on inputs of ``hw`` (``receptive_field``).

    ``size`` is the theoretical receptive field: the extent one unit sees, as its layers make it, not clipped to
    the image. Where it is larger than the image (deep layers of a small input: resnet20's layer3.2 sees 81x81 pixels
    of a 32x32 image) and no unit on the image shows it, it is measured on a larger input (``_beyond``); where that
    cannot be done (the model takes no other size, or it would cost too much), ``size`` is only a lower bound, the
    clipped box of the central unit (``lower_bound``). ``size_text`` says which. ``stride`` is the input pixels
    per map step and ``offset`` the input position of map position (0, 0)'s centre. The boxes (the crops) are
    always clipped to the image; they come from ``box_for``: where the layer is a translation (checked at the
    middle, the borders and two corners of its map), from the table of every map row's (top, bottom) and every map
    column's (left, right) input pixels, clipped (``rows``, ``cols``); else each asked position is measured
    (``measure``)."""

    size: tuple[int, int]  # receptive field height, width in input pixels
    stride: tuple[float, float]  # input pixels per map step
    offset: tuple[float, float]  # input position of map position (0, 0)'s centre
    rows: tuple[tuple[int, int], ...] | None = None  # per map row: (top, bottom) input rows, end-exclusive, clipped
    cols: tuple[tuple[int, int], ...] | None = None  # per map column: (left, right) input columns, likewise
    hw: tuple[int, int] | None = None  # the input size it was measured on
    measure: Callable | None = field(default=None, compare=False, repr=False)  # (positions, hw) -> boxes
    cache: dict = field(default_factory=dict, compare=False, repr=False)  # measured boxes by (y, x, h, w)
    lower_bound: tuple[bool, bool] = (False, False)  # per axis: ``size`` is only a lower bound (the clipped box)

    def exceeds(self) -> bool:
        """The field is larger than the image it was measured on (every unit then sees past a border)."""
        return self.hw is not None and (self.size[0] > self.hw[0] or self.size[1] > self.hw[1])

    def size_text(self) -> str:
        """The size as the views show it: "7x7 px"; "65x65 px, more than the 32x32 image"; "at least 32x32 px
        (every unit sees the whole 32x32 image)" where only a lower bound is known."""
        h, w = self.size
        text = f"{h}x{w} px"
        if self.hw is None:
            return text
        H, W = self.hw
        if any(self.lower_bound):
            whole = (h, w) == (H, W)
            return (f"at least {text} (" + (f"every unit sees the whole {H}x{W} image" if whole
                                             else f"clipped to the {H}x{W} image") + ")")
        if self.exceeds():
            return f"{text}, more than the {H}x{W} image"
        return text


def _fit_axis(obs: dict[int, tuple[int, int]], m: int, n: int) -> tuple[tuple[int, int], ...] | None:
    """The (first, end) input pixels of every index 0..m-1 of one map axis from those observed at some indices: the
    observations themselves where every index was observed, else the translation clipped to 0..n they follow (one
    integer stride; a side clipped at every observed index, the end one included, is clipped everywhere); None where
    they follow no such translation."""
    if len(obs) == m:
        return tuple(obs[i] for i in range(m))
    ys = sorted(obs)
    lo_pts = [(y, obs[y][0]) for y in ys if obs[y][0] > 0]
    hi_pts = [(y, obs[y][1]) for y in ys if obs[y][1] < n]
    slopes = set()
    for pts in (lo_pts, hi_pts):
        for (y0, v0), (y1, v1) in zip(pts, pts[1:]):
            d, r = divmod(v1 - v0, y1 - y0)
            if r:
                return None
            slopes.add(d)
    if len(slopes) > 1 or (slopes and min(slopes) < 1):
        return None
    s = slopes.pop() if slopes else None
    if (lo_pts or hi_pts) and s is None:
        return None
    a = lo_pts[0][1] - s * lo_pts[0][0] if lo_pts else None  # first pixel of index 0, unclipped
    b = hi_pts[0][1] - s * hi_pts[0][0] if hi_pts else None  # end pixel of index 0, unclipped
    if (a is None and obs[ys[-1]][0] != 0) or (b is None and obs[ys[0]][1] != n):
        return None
    table = tuple((0 if a is None else max(0, a + s * y), n if b is None else min(n, b + s * y)) for y in range(m))
    if any(table[y] != obs[y] for y in ys) or any(lo >= hi for lo, hi in table):
        return None
    return table


def _geometry(table: tuple[tuple[int, int], ...], n: int) -> tuple[int, float, float, bool]:
    """(size, stride, centre of index 0, exact) of one axis from its table: the extent, step and position of an
    unclipped box (from the unclipped sides where none is), exact; else (no unit shows both its sides, e.g. every
    box is the whole image) the central index's clipped box and n / m, a lower bound (not exact)."""
    m = len(table)
    c = m // 2
    steps = [table[i + 1][0] - table[i][0] for i in range(m - 1) if table[i][0] > 0] + \
            [table[i + 1][1] - table[i][1] for i in range(m - 1) if table[i + 1][1] < n]
    stride = float(steps[0]) if steps else n / max(1, m)
    whole = sorted((abs(i - c), i) for i, (lo, hi) in enumerate(table) if lo > 0 and hi < n)
    los = [i for i, (lo, _) in enumerate(table) if lo > 0]
    his = [i for i, (_, hi) in enumerate(table) if hi < n]
    exact = True
    if whole:
        i = whole[0][1]
        size, first = table[i][1] - table[i][0], table[i][0] - stride * i
    elif steps and los and his:
        first = table[los[0]][0] - stride * los[0]
        size = int(round(table[his[0]][1] - stride * his[0] - first))
    else:
        size, first = table[c][1] - table[c][0], table[c][0] - stride * c
        exact = False
    return int(size), stride, first + (size - 1) / 2.0, exact


BEYOND_SCALES = (2, 4, 8, 16)  # a field larger than the image is measured on inputs this many times larger (per
# axis; the first that shows it), ...
BEYOND_PIXELS = 128 * 128  # ... of at most this many pixels (a 224x224 model's deep layers: a lower bound only)


def _agrees(table, n: int, size: int, stride: float, centre: float) -> bool:
    """The translation (size, stride, centre of index 0) measured on a larger input, clipped to 0..n, gives the table
    measured on the image: the layer is the same translation at both sizes (no size-dependent operation)."""
    for i, (lo, hi) in enumerate(table):
        first = centre + stride * i - (size - 1) / 2.0
        if abs(first - round(first)) > 1e-6:
            return False
        first = int(round(first))
        if (max(0, first), min(n, first + size)) != (lo, hi):
            return False
    return True


def _beyond(model, layer: int, ispec, hw: tuple[int, int], device, tables, need: tuple[bool, bool]) -> list:
    """The exact (size, stride, centre) of the axes in ``need`` (none of whose units shows its field whole on ``hw``):
    measured at the two ends of each map axis on an input ``BEYOND_SCALES`` times larger along those axes (a
    translation's field does not depend on the input's size; ``_agrees`` checks that it is the one measured on
    ``hw``). Per axis: the geometry, or None where it could not be measured (the model takes no such input, the
    input would be over ``BEYOND_PIXELS``, or the layer is no translation there)."""
    h, w = hw
    got: list = [None, None]
    for scale in BEYOND_SCALES:
        want = [need[a] and got[a] is None for a in (0, 1)]
        if not any(want):
            break
        big = (h * scale if want[0] else h, w * scale if want[1] else w)
        if big[0] * big[1] > BEYOND_PIXELS:
            break
        try:
            probe = _Probe(model, layer, ispec.channels, big, device)
        except Exception:  # noqa: BLE001 - a model that takes no other input size: the lower bound stands
            break
        try:
            if len(probe.shape) != 3:
                break
            _, mh, mw = probe.shape
            ends = lambda m: sorted({0, min(1, m - 1), max(0, m - 2), m - 1})  # noqa: E731
            ry, rx = ends(mh), ends(mw)
            k = max(len(ry), len(rx))
            diag = list(zip(ry + [ry[-1]] * (k - len(ry)), rx + [rx[-1]] * (k - len(rx))))
            boxes = dict(zip(diag, _boxes(probe, diag)))
        except Exception:  # noqa: BLE001 - a model that fails at that size
            break
        finally:
            probe.close()
        oy: dict[int, tuple[int, int]] = {}
        ox: dict[int, tuple[int, int]] = {}
        for (y, x), (t, left, b, r) in boxes.items():
            oy.setdefault(y, (t, b))
            ox.setdefault(x, (left, r))
        for a, (obs, m, n) in enumerate(((oy, mh, big[0]), (ox, mw, big[1]))):
            if not want[a]:
                continue
            table = _fit_axis(obs, m, n)
            if table is None:
                continue
            size, stride, centre, exact = _geometry(table, n)
            if exact and _agrees(tables[a], hw[a], size, stride, centre):
                got[a] = (size, stride, centre)
    return got


def _axis_indices(m: int) -> list[int]:
    c = m // 2
    return sorted({i for i in (0, 1, c - 1, c, c + 1, m - 2, m - 1) if 0 <= i < m})


def receptive_field(model, layer: int, ispec, input_hw: tuple[int, int], device="cpu") -> RF:
    """The receptive field of ``layer`` on inputs of ``input_hw``, measured: a unit's box is the bounding box of the
    input pixels that can change it, the union over ``N_INPUTS`` random inputs of its gradient's support (step
    functions and max-pooling pass gradients on: ``app.analysis.rf_measure``). Map positions at the middle, the
    borders and two corners are measured in one pass; where they follow one translation (valid or padded
    convolutions, strides, pooling; clipped at the borders) every box follows from them, else ``box_for`` measures
    each position asked."""
    h, w = int(input_hw[0]), int(input_hw[1])
    measure = _measurer(model, layer, ispec, device)
    probe = _Probe(model, layer, ispec.channels, (h, w), device)
    try:
        if len(probe.shape) != 3:  # no spatial map: every unit sees the whole image
            return RF((h, w), (float(h), float(w)), ((h - 1) / 2.0, (w - 1) / 2.0), ((0, h),), ((0, w),), (h, w),
                      measure)
        _, mh, mw = probe.shape
        ry, rx = _axis_indices(mh), _axis_indices(mw)
        k = max(len(ry), len(rx))
        diag = list(zip(ry + [ry[len(ry) // 2]] * (k - len(ry)), rx + [rx[len(rx) // 2]] * (k - len(rx))))
        positions = list(dict.fromkeys(diag + [(ry[0], rx[-1]), (ry[-1], rx[0])]))  # + corners: one table or not
        boxes = dict(zip(positions, _boxes(probe, positions)))
    finally:
        probe.close()
    oy: dict[int, tuple[int, int]] = {}
    ox: dict[int, tuple[int, int]] = {}
    consistent = True
    for (y, x), (t, left, b, r) in boxes.items():
        consistent &= oy.setdefault(y, (t, b)) == (t, b) and ox.setdefault(x, (left, r)) == (left, r)
    rows = _fit_axis(oy, mh, h) if consistent else None
    cols = _fit_axis(ox, mw, w) if consistent else None
    if rows is None or cols is None:  # no translation: each position is measured (these ones already are)
        py, px = diag[len(diag) // 2]
        t, left, b, r = boxes[(py, px)]
        stride = (h / mh, w / mw)
        offset = ((t + b - 1) / 2.0 - py * stride[0], (left + r - 1) / 2.0 - px * stride[1])
        # the central unit's box: where it reaches a border, more may lie beyond it (a lower bound)
        return RF((b - t, r - left), stride, offset, None, None, (h, w), measure,
                  {(y, x, h, w): bx for (y, x), bx in boxes.items()},
                  lower_bound=(t == 0 or b == h, left == 0 or r == w))
    gy, gx = _geometry(rows, h), _geometry(cols, w)
    if not (gy[3] and gx[3]):  # no unit shows its whole field on this image: measured on a larger one
        more = _beyond(model, layer, ispec, (h, w), device, (rows, cols), (not gy[3], not gx[3]))
        gy = (*more[0], True) if more[0] is not None else gy
        gx = (*more[1], True) if more[1] is not None else gx
    return RF((gy[0], gx[0]), (gy[1], gx[1]), (gy[2], gx[2]), rows, cols, (h, w), measure,
              lower_bound=(not gy[3], not gx[3]))


def _measurer(model, layer: int, ispec, device):
    """(positions, hw) -> their boxes, measured together (on a fresh copy of the model)."""
    channels = ispec.channels

    def measure(positions, hw):
        probe = _Probe(model, layer, channels, hw, device)
        try:
            return _boxes(probe, list(positions))
        finally:
            probe.close()

    return measure


def boxes_for(rf: RF, positions, hw: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """``box_for`` of each (y, x) of ``positions``; the positions to measure (where the layer is no translation)
    are measured together, in one pass."""
    hw = (int(hw[0]), int(hw[1]))
    positions = [(int(y), int(x)) for y, x in positions]
    if rf.rows is not None and rf.cols is not None and rf.hw == hw:
        for y, x in positions:
            if not (0 <= y < len(rf.rows) and 0 <= x < len(rf.cols)):
                raise IndexError(f"map position ({y}, {x}) is outside the {len(rf.rows)}x{len(rf.cols)} map")
        return [_clip((rf.rows[y][0], rf.cols[x][0], rf.rows[y][1], rf.cols[x][1]), hw) for y, x in positions]
    if rf.measure is not None:
        todo = list(dict.fromkeys(p for p in positions if (*p, *hw) not in rf.cache))
        if todo:
            for p, b in zip(todo, rf.measure(todo, hw)):
                rf.cache[(*p, *hw)] = b
        return [rf.cache[(*p, *hw)] for p in positions]
    out = []
    for y, x in positions:  # an RF made by hand: its size, stride and offset, box centred on the unit's centre
        cy = rf.offset[0] + y * rf.stride[0]
        cx = rf.offset[1] + x * rf.stride[1]
        top = int(round(cy - (rf.size[0] - 1) / 2))
        left = int(round(cx - (rf.size[1] - 1) / 2))
        out.append(_clip((top, left, top + rf.size[0], left + rf.size[1]), hw))
    return out


def _clip(box, hw) -> tuple[int, int, int, int]:
    top, left, bottom, right = box
    return max(0, int(top)), max(0, int(left)), min(int(hw[0]), int(bottom)), min(int(hw[1]), int(right))


def box_for(rf: RF, y: int, x: int, hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """The input pixels map position (y, x) can be changed by: (top, left, bottom, right), end-exclusive (rows
    top..bottom-1, columns left..right-1: ``image[top:bottom, left:right]``), clipped to ``hw``."""
    return boxes_for(rf, [(y, x)], hw)[0]
