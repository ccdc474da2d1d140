"""What the Probe views read: ``RunView``, one typed, frozen view of a run (just finished or reopened from the
history), built in ONE place from a ``ProbeResult`` or a stored dict, plus ``Job`` (one queued run) and
``CompareRow`` (the comparison table's row for runs that differ only by seed).

Older runs lack fields that newer ones record (validation accuracy, selected hyperparameters, seeds, the resolved
record); those read as ``None`` here and the views write "not recorded", never a made-up "default".
Plain Python (no Qt): the display logic of the views, testable alone.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from app.device import machine_text
from app.metrics import percent, spread_text
from app.models.catalog import stored_weight_state
from app.probe.caveats import caveats, stop_text
from app.probe.config import HYPERPARAMETER, TTA_NAMES, curve_note, selection_note

NOT_RECORDED = "not recorded"
# the hyperparameters selected on validation (the rest of a head's options are mechanics: tolerances, batch sizes)
HYPERPARAMETERS = ("weight_decay", "alpha", "C", "k")


def chosen(head: str | None, selected: dict | None) -> tuple[str, Any] | None:
    """(name, value) of the hyperparameter validation chose, from a run's ``selected`` record (not the layer or pooling
    a preset may record there too); None when nothing was selected."""
    selected = selected or {}
    key = HYPERPARAMETER.get(head or "")
    if key not in selected:
        key = next((k for k in selected if k in HYPERPARAMETERS), None)
    return None if key is None else (key, selected[key])


@dataclasses.dataclass(frozen=True)
class Job:
    kind: str  # "probe", "baseline" or "rerun"
    config: Any  # app.probe.config.ProbeConfig (None for a rerun: its record is read from the history)
    title: str
    run_id: int | None = None  # a rerun's stored run


@dataclasses.dataclass(frozen=True)
class RunView:
    run_id: int | None
    label: str
    backbone: str
    weight_state: str
    weights: str | None
    dataset: str
    head: str
    layer: int | None
    layer_name: str | None
    pooling: str | None
    top1: float
    top2: float | None
    top5: float | None
    val_top1: float | None
    test_top1: float | None
    per_class: tuple[float, ...]
    confusion: np.ndarray
    classes: tuple[str, ...]
    n_train: int | None
    n_test: int | None
    n_features: int | None
    extract_seconds: float
    train_seconds: float
    device: str
    cache_hit: bool
    curves: tuple[dict, ...]
    head_options: dict
    selected: dict
    seeds: dict
    has_misclassified: bool
    n_misclassified: int
    raw: dict = dataclasses.field(repr=False, compare=False)  # the stored record (the gallery reads it)
    tta: str = "none"  # test-time views (app.probe.config.TTA)
    selection: tuple = ()  # (value, validation top-1) of each value of the selected hyperparameter, in sweep order
    selection_iterations: tuple = ()  # each of those values' fit: iterations (0: the warm start was the solution)
    machine: str = "-"  # what computed it, in words (``app.device.machine_text``; "-": recorded before machines were)
    retrieval: tuple[tuple[str, float], ...] = ()  # k-NN: (precision@1/5/10, mAP) of the test images as queries

    def retrieval_text(self) -> str:
        """k-NN's retrieval figures in a line ("precision@1 97.3% · precision@10 95.1% · mAP 0.81"); "" without."""
        parts = [f"{k} {percent(v)}" if k.startswith("precision") else f"{k} {v:.3f}"
                 for k, v in self.retrieval if isinstance(v, (int, float)) and v == v]
        return " · ".join(parts)

    @property
    def is_baseline(self) -> bool:
        return self.head == "own"

    @property
    def head_text(self) -> str:
        return "its own trained classifier" if self.is_baseline else f"{self.head} head"

    @property
    def layer_text(self) -> str:
        if self.layer_name:
            return self.layer_name
        return NOT_RECORDED if self.layer is None else f"layer {self.layer}"

    def hyper_text(self) -> str:
        """The head's selected hyperparameters (chosen on validation) or, for old runs, the options it ran with."""
        d = self.selected or {k: v for k, v in self.head_options.items() if k in HYPERPARAMETERS} \
            or self.head_options
        if self.is_baseline:
            return "none (own classifier)"
        if not d:
            return NOT_RECORDED
        return ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(d.items()))

    def chosen(self) -> tuple[str, Any] | None:
        """(name, value) of the hyperparameter validation chose (``chosen``); None when nothing was selected."""
        return chosen(self.head, self.selected)

    def selection_text(self) -> str:
        """Validation's figure for each value of the selected hyperparameter ("" when nothing was selected)."""
        return selection_note(self.selection, self.selection_iterations,
                              self.raw.get("stop") if isinstance(self.raw, dict) else None)

    def curve_text(self) -> str:
        """What the run's training curves are: the selected value's fit from the previous value's solution ("" when
        nothing was selected or it started from zero; ``app.probe.config.curve_note``)."""
        return curve_note(self.head, self.selected, self.selection, self.selection_iterations)

    def spread_texts(self) -> tuple[str, str]:
        """(validation, test) top-1 sampling errors as the header shows them (``app.metrics.spread_text``: the s.e.,
        or the Wilson 95% interval on a few images or near 0% / 100%); "" where the split's size is not recorded."""
        n_val = self.raw.get("n_val") if isinstance(self.raw, dict) else None
        return spread_text(self.val_top1, n_val, digits=1), spread_text(self.top1, self.n_test, digits=1)

    def caveats(self) -> list[str]:
        """What the figures do not say by themselves (app.probe.caveats: mirror views on digits, a head stopped
        before its tolerance), from the run's record."""
        return caveats(self.raw)

    def stop_text(self) -> str:
        """How the selected fit stopped (app.probe.caveats.stop_text: iterations, gradient, duality gap); "" where
        the record has no rule."""
        return stop_text(self.raw.get("stop") if isinstance(self.raw, dict) else None)

    def seeds_text(self) -> str:
        if not self.seeds:
            return NOT_RECORDED
        return ", ".join(f"{k} {v}" for k, v in sorted(self.seeds.items()))

    @staticmethod
    def from_result(result: Any, run_id: int | None = None) -> "RunView":
        d = result.to_dict()
        for name in ("val_top1", "test_top1", "selected", "seeds", "run_id"):  # fields newer results carry
            v = getattr(result, name, None)
            if v is not None and name not in d:
                d[name] = v
        resolved = getattr(result, "resolved", None)
        if resolved is not None and "resolved" not in d:
            d["resolved"] = resolved.to_dict() if hasattr(resolved, "to_dict") else dataclasses.asdict(resolved)
        if run_id is not None:
            d["id"] = run_id
        return RunView.from_dict(d)

    @staticmethod
    def from_dict(d: dict) -> "RunView":
        cfg = d.get("config") or {}
        model = cfg.get("model") or {}
        settings = d.get("settings") or {}
        res = d.get("resolved") or {}
        rmodel = res.get("model") if isinstance(res.get("model"), dict) else {}
        layer = _first(res.get("layer"), settings.get("layer"), cfg.get("layer"))
        pooling = _first(res.get("pooling"), settings.get("pooling"))
        if pooling is None and cfg.get("pooling") not in (None, "default"):
            pooling = cfg.get("pooling")
        head = str(_first(res.get("head"), cfg.get("head"), "?"))
        head_options = dict(_first(res.get("head_options"), settings.get("head_options"), cfg.get("head_options"))
                            or {})
        seeds = dict(_first(res.get("seeds"), d.get("seeds")) or {})
        run_id = _first(d.get("id"), d.get("run_id"))
        mis = d.get("misclassified")
        return RunView(
            run_id=None if run_id is None else int(run_id),
            label=str(model.get("label") or model.get("backbone") or "?"),
            backbone=str(_first(rmodel.get("backbone"), model.get("backbone"), "?")),
            weight_state=stored_weight_state(model),
            weights=_first(rmodel.get("weights"), model.get("weights")),
            dataset=str(cfg.get("dataset") or "?"),
            head=head,
            layer=None if layer is None else int(layer),
            layer_name=_first(res.get("layer_name"), settings.get("layer_name")),
            pooling=None if pooling is None else str(pooling),
            top1=float(d.get("top1") or 0.0),
            top2=_float(d.get("top2")),
            top5=_float(d.get("top5")),
            val_top1=_float(d.get("val_top1")),
            test_top1=_float(_first(d.get("test_top1"), d.get("top1"))),
            per_class=tuple(float(v) for v in d.get("per_class") or ()),
            confusion=np.asarray(d.get("confusion") or [[0]], np.int64),
            classes=tuple(str(c) for c in d.get("classes") or ()),
            n_train=_int(d.get("n_train")),
            n_test=_int(d.get("n_test")),
            n_features=_int(_first(res.get("n_features"), d.get("n_features"))),
            extract_seconds=float(d.get("extract_seconds") or 0.0),
            train_seconds=float(d.get("train_seconds") or 0.0),
            device=str(d.get("device") or ""),
            cache_hit=bool(d.get("feature_cache_hit")),
            curves=tuple(d.get("curves") or ()),
            head_options=head_options,
            selected=dict(d.get("selected") or {}),
            seeds=seeds,
            has_misclassified="misclassified" in d,
            n_misclassified=len(mis or ()),
            raw=d,
            tta=str(_first(res.get("tta"), settings.get("tta"), cfg.get("tta")) or "none"),
            selection=tuple(tuple(r) for r in d.get("selection") or () if isinstance(r, (list, tuple)) and len(r) == 2),
            selection_iterations=tuple(d.get("selection_iterations") or ()),
            machine=machine_text(d.get("machine") if isinstance(d.get("machine"), dict) else None),
            retrieval=tuple((str(k), float(v)) for k, v in (settings.get("retrieval") or {}).items()
                            if isinstance(v, (int, float)) and not isinstance(v, bool)),
        )


@dataclasses.dataclass(frozen=True)
class CompareRow:
    """Runs that differ only by seed, as the comparison table shows them."""

    label: str
    weight_state: str
    backbone: str
    weights: str
    layer: str
    pooling: str
    n_features: str
    head: str
    hyper: str
    n_train: str
    n_runs: int
    val: str
    test: str
    seeds: str
    weights_path: str = ""
    n_test: str = ""  # the test split's size: a setting (app.probe.compare keys on it), not a seed
    reruns: str = ""  # whether the group's reruns of a seed reproduced it (``app.probe.compare.reruns_text``)
    reruns_tip: str = ""  # each rerun's verdict


def mean_std(values: Iterable[float | None]) -> tuple[float, float, int] | None:
    vs = [float(v) for v in values if v is not None]
    if not vs:
        return None
    m = sum(vs) / len(vs)
    s = math.sqrt(sum((v - m) ** 2 for v in vs) / (len(vs) - 1)) if len(vs) > 1 else 0.0
    return m, s, len(vs)


def pct(stat: tuple[float, float, int] | None) -> str:
    if stat is None:
        return NOT_RECORDED
    m, s, n = stat
    return percent(m) + (f" ± {100 * s:.1f}" if n > 1 else "")


def compare_row(runs: list[RunView], group: Any = None) -> CompareRow:
    """One row from the runs of a group (same model, data, head, layer, pooling; different seeds). ``group``: its
    ``app.probe.compare.GroupStat``, whose validation and test figures are over distinct seeds (a rerun of a seed
    counts once, as on the chart's bar); without it, over the runs."""
    first = runs[0]

    def same(values: list[str]) -> str:
        uniq = list(dict.fromkeys(values))
        return uniq[0] if len(uniq) == 1 else " / ".join(uniq)

    seeds: dict[str, list] = {}
    for r in runs:
        for k, v in r.seeds.items():
            seeds.setdefault(k, []).append(v)
    seeds_text = ("; ".join(f"{k} {', '.join(str(v) for v in sorted(set(vs)))}" for k, vs in sorted(seeds.items()))
                  if seeds else NOT_RECORDED)
    return CompareRow(
        label=first.label, weight_state=first.weight_state, backbone=first.backbone,
        weights=Path(first.weights).name if first.weights else "none",  # no file: random, hand-designed, fitted
        layer=same([r.layer_text for r in runs]), pooling=same([r.pooling or NOT_RECORDED for r in runs]),
        n_features=same([NOT_RECORDED if r.n_features is None else f"{r.n_features:,}" for r in runs]),
        head="own classifier" if first.is_baseline else
        first.head + (f" · {TTA_NAMES.get(first.tta, first.tta)}" if first.tta not in (None, "", "none") else ""),
        hyper=same([r.hyper_text() for r in runs]),
        n_train="" if first.n_train is None or first.is_baseline else str(first.n_train),
        n_runs=len(runs), val=pct(mean_std(r.val_top1 for r in runs)) if group is None else
        pct(None if not group.n_val else (group.val_mean, group.val_std, group.n_val)),
        test=pct(mean_std(r.test_top1 for r in runs)) if group is None else
        pct((group.top1_mean, group.top1_std, group.distinct_seeds)), seeds=seeds_text, weights_path=first.weights or "",
        n_test=same(["" if r.n_test is None else str(r.n_test) for r in runs]))


def _first(*values: Any) -> Any:
    for v in values:
        if v is not None:
            return v
    return None


def _float(v: Any) -> float | None:
    try:
        return None if v is None else float(v)
    except (TypeError, ValueError):
        return None


def _int(v: Any) -> int | None:
    try:
        return None if v is None else int(v)
    except (TypeError, ValueError):
        return None


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)
