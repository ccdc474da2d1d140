"""The comparison of stored runs: runs that differ only by their seeds are one group (mean and standard deviation
of validation and test accuracy), keyed by their resolved settings."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from app.probe.config import TTA_NAMES

if TYPE_CHECKING:
    from app.probe.history import RunSummary


# --- comparison ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GroupStat:
    """Runs that differ only by their seeds: the comparison chart's bar (mean) and error bar (std), of test
    accuracy (``top1_*`` = ``test_*``) and validation accuracy."""

    key: tuple
    label: str
    weight_state: str
    dataset: str
    head: str
    layer: int | None
    pooling: str
    n_train: int | None
    n_runs: int
    top1_mean: float
    top1_std: float
    top5_mean: float | None
    ids: tuple[int, ...]
    chance: float | None
    backbone: str | None = None
    weights: str | None = None
    n_features: int | None = None
    selected: dict = field(default_factory=dict, compare=False)
    val_mean: float | None = None
    val_std: float | None = None
    seeds: tuple[tuple[int | None, int | None, int | None], ...] = ()  # (model, split, head) per run
    tta: str = "none"  # test-time views: runs with and without are never one group
    detail: str = ""  # what sets it apart from a group of the same title (options.widths = [8, 8], init = kaiming)
    n_val: int = 0  # how many distinct seeds recorded a validation figure (``val_mean`` and ``val_std`` are over them)

    @property
    def repeated_seeds(self) -> int:
        """How many runs of the group repeat another run's (model, split, head) seeds (a rerun): their results add no
        spread, so "mean +- std over seeds" is over fewer seeds than runs. 0 where a run's seeds are not recorded."""
        if not self.seeds or any(None in s for s in self.seeds):
            return 0
        return len(self.seeds) - len(set(self.seeds))

    @property
    def distinct_seeds(self) -> int:
        """The runs that are seeds of their own: the runs less the reruns of a seed already there."""
        return self.n_runs - self.repeated_seeds

    @property
    def test_mean(self) -> float:
        return self.top1_mean

    @property
    def test_std(self) -> float:
        return self.top1_std

    @property
    def title(self) -> str:
        return self.titled()

    def titled(self, layer_name: str | None = None) -> str:
        """The group's label and what sets it apart; ``layer_name``: the tapped layer's name (e.g. "conv3", as the
        runs recorded it) instead of its index ("layer 2"). The ``detail`` first: it is what tells apart groups of
        one label, and a long name is cut at its end."""
        extra = [self.detail] if self.detail else []
        extra += [] if self.head in ("logistic",) else ["own classifier" if self.head == "own" else self.head]
        if self.layer is not None and self.head != "own":
            extra.append(layer_name or f"layer {self.layer}")
        if self.pooling not in ("default", "", "none"):
            extra.append(self.pooling)
        if self.n_features:
            extra.append(f"{self.n_features} features")
        if self.tta in TTA_NAMES and self.tta != "none":
            extra.append(TTA_NAMES[self.tta])
        extra += [f"{k}={v}" for k, v in sorted(self.selected.items()) if k not in ("layer", "pooling")]
        return self.label + (f" [{', '.join(extra)}]" if extra else "")


WEIGHT_STATES = ("random", "hand-designed", "fitted", "trained")


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else 0.0
    return mean, std


def _per_seed(rs: list[RunSummary], value) -> list[float]:
    """One figure per distinct (model, split, head) seeds: the mean of a seed's reruns (bit-identical, or nearly:
    a thread count may differ), so that a rerun neither moves the mean nor shrinks the spread (three seeds and a
    rerun of the first read 90.00 +- 2.52 where the three seeds give 89.83 +- 3.06). Runs without recorded seeds
    count one each."""
    by_seed: dict[Any, list[float]] = {}
    for r in rs:
        v = value(r)
        if v is None:
            continue
        seeds = (r.model_seed, r.split_seed, r.head_seed)
        by_seed.setdefault(seeds if None not in seeds else ("run", r.id), []).append(float(v))
    return [sum(vs) / len(vs) for vs in by_seed.values()]


def normal_setting(r: RunSummary) -> str | None:
    """A run's ``setting`` less what does not make its data or head differ: the requested limits (the drawn counts
    n_train, n_val, n_test are in the group key: a limit above the split's size draws what no limit draws), the data
    folder of a dataset that reads none from it (digits, an image folder: its path is the dataset), and a
    hyperparameter selected on validation (its pre-selection default was never used; the selected values are shown
    as such)."""
    if not r.setting:
        return r.setting
    try:
        d = json.loads(r.setting)
    except ValueError:
        return r.setting
    if not isinstance(d, dict):
        return r.setting
    from app.data.catalog import BUILTINS

    d.pop("train_limit", None)
    d.pop("test_limit", None)
    if str(d.get("dataset") or "").split(":", 1)[0] not in BUILTINS:
        d.pop("data_root", None)
    if (r.n_val or 0) > 0 and isinstance(d.get("head_options"), dict):
        for key in r.selected_dict:
            d["head_options"].pop(key, None)
    return json.dumps(d, sort_keys=True)


def compare_groups(runs: Iterable[RunSummary]) -> list[GroupStat]:
    """Group runs by their resolved settings (dataset, backbone, weights, layer, pooling, feature count, head,
    training size, test split size, test-time views): everything but the seeds. (A run scored on a 100-image test
    subset and one on the whole split are not two seeds of one setting: their spread would be read as the seeds'.)
    A hyperparameter selected on validation is an outcome of the protocol (each seed may select another value), so
    it does not split a group; a fixed one (no validation split) does.
    Order: random, hand-designed, fitted, trained, then by first appearance."""
    groups: dict[tuple, list[RunSummary]] = {}
    for r in sorted(runs, key=lambda r: r.id):
        sel = "selected on validation" if (r.n_val or 0) > 0 else json.dumps(r.selected_dict, sort_keys=True)
        # and everything else the run resolved (model options, init, input, head options ...): "simple" with widths
        # 4,8 and with 8,8, or with 2 head epochs, were one group, their spread read as the seeds'
        key = (r.label, r.weight_state, r.dataset, r.backbone, r.weights, r.head, r.layer, r.pooling, r.n_features,
               sel, r.n_train, r.n_test, r.tta or "none", normal_setting(r))
        groups.setdefault(key, []).append(r)
    out = []
    for key, rs in groups.items():
        mean, std = _mean_std(_per_seed(rs, lambda r: r.top1))  # over distinct seeds: a rerun adds no spread
        top5 = _per_seed(rs, lambda r: r.top5)
        vals = _per_seed(rs, lambda r: r.val_top1)
        vmean, vstd = _mean_std(vals) if vals else (None, None)
        first = rs[0]
        out.append(GroupStat(
            key=key, label=first.label, weight_state=first.weight_state, dataset=first.dataset, head=first.head,
            layer=first.layer, pooling=first.pooling, n_train=first.n_train, n_runs=len(rs), top1_mean=mean,
            top1_std=std, top5_mean=(sum(top5) / len(top5)) if top5 else None, ids=tuple(r.id for r in rs),
            chance=(1.0 / first.n_classes) if first.n_classes else None, backbone=first.backbone,
            weights=first.weights, n_features=first.n_features, selected=_merged_selected(rs), val_mean=vmean,
            val_std=vstd, seeds=tuple((r.model_seed, r.split_seed, r.head_seed) for r in rs), tta=first.tta or "none",
            n_val=len(vals)))
    out = _told_apart(out, {r.id: normal_setting(r) for r in groups_runs(groups)})
    order = {s: i for i, s in enumerate(WEIGHT_STATES)}
    return sorted(out, key=lambda g: (order.get(g.weight_state, len(order)), g.ids[0]))


def seed_reruns(group: GroupStat) -> list[tuple[int, int]]:
    """(the first run of some seeds, a later run of the very same seeds) for each rerun in ``group``, in run order:
    the pairs whose agreement says whether the group's figure reproduces (``app.probe.paired.rerun_check``). No
    pair where a run's seeds are not recorded (as ``repeated_seeds``)."""
    if not group.seeds or any(None in s for s in group.seeds):
        return []
    first: dict[tuple, int] = {}
    out = []
    for run_id, seeds in zip(group.ids, group.seeds):
        if seeds in first:
            out.append((first[seeds], run_id))
        else:
            first[seeds] = run_id
    return out


def reruns_text(checks: list[tuple[int, int, dict]]) -> tuple[str, str]:
    """The Compare table's word on a group's reruns (``seed_reruns`` with each pair's ``rerun_check``): a few words
    ("reproduced", "1 of 2 reruns differs", "not comparable") and the tooltip (each rerun's verdict, one paragraph
    each). A pair without a record of its test images is "not comparable", not a difference. Empty: no rerun."""
    if not checks:
        return "", ""
    n = len(checks)
    differ = sum(not c.get("reproduced") and c.get("paired") is not None for _, _, c in checks)
    unpaired = sum(c.get("paired") is None for _, _, c in checks)
    if not differ and not unpaired:
        short = "reproduced" if n == 1 else f"all {n} reruns reproduced"
    else:
        parts = []
        if differ:
            parts.append("the rerun differs" if n == 1 else f"{differ} of {n} reruns differ{'s' if differ == 1 else ''}")
        if unpaired:
            parts.append("not comparable" if n == 1 else f"{unpaired} not comparable")
        short = ", ".join(parts)
    tip = "\n".join(f"Run {b}, " + _lower_first(c.get("text", "")) for _, b, c in checks)
    return short, tip


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def groups_runs(groups: dict[tuple, list[RunSummary]]) -> list[RunSummary]:
    return [r for rs in groups.values() for r in rs]


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def _value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def _told_apart(stats: list[GroupStat], settings: dict[int, str | None]) -> list[GroupStat]:
    """Groups of one label on one dataset get a ``detail``: the settings in which they differ from each other (from
    their runs' stored ``setting``: options, init, head options ...), so two bars never read alike."""
    by_title: dict[tuple, list[int]] = {}
    for i, g in enumerate(stats):
        by_title.setdefault((g.label, g.dataset), []).append(i)
    out = list(stats)
    skip = ("layer_name", "model.label", "input.source")
    for idx in by_title.values():
        if len(idx) < 2:
            continue
        flats = []
        for i in idx:
            try:
                flat = _flat(json.loads(settings.get(stats[i].ids[0]) or "{}"))
            except ValueError:
                flat = {}
            if flat:  # a record without a refit says none (it stores the switch only when on): "refit = false"
                flat.setdefault("refit", False)
            flats.append(flat)
        keys = sorted({k for f in flats for k in f if not k.startswith(skip)})
        differ = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flats}) > 1]
        tops = {k.split(".", 1)[0] for f in flats for k in f}

        def named(k: str) -> str:  # "options.widths" for model.options.widths; model.input stays apart from input
            short = k.removeprefix("model.")
            return short if short == k or short.split(".", 1)[0] not in tops else k

        for i, f in zip(idx, flats):
            text = ", ".join(f"{named(k)} = {_value(f.get(k))}" for k in differ[:3]) \
                or f"runs {stats[i].ids[0]}..."
            out[i] = dataclasses.replace(stats[i], detail=text)
    return out


def _merged_selected(rs: list[RunSummary]) -> dict:
    """The selected hyperparameters of a group: one value, or the values its seeds selected (sorted, distinct)."""
    out: dict = {}
    for r in rs:
        for k, v in r.selected_dict.items():
            out.setdefault(k, [])
            if v not in out[k]:
                out[k].append(v)
    return {k: (v[0] if len(v) == 1 else sorted(v, key=lambda x: (str(type(x)), x))) for k, v in out.items()}
