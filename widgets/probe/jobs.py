"""The Probe's jobs from what the form says: one ``Job`` per checked model and seed, every one at equal settings."""

from __future__ import annotations

import dataclasses
from typing import Any

from app.probe.config import ProbeConfig
from widgets.probe.model import Job


def preset_label(name: str) -> str:
    """The label of the model a preset adds to the list."""
    from app.probe.presets import model_spec

    return model_spec(name).label


def probe_jobs(ps: Any, specs: list, dataset: str, data_root: str | None, train_limit: int | None,
               preset_specs: dict[str, Any]) -> list[Job]:
    """``ps``: the ``ProbeSettings`` panel; ``specs``: the checked models; ``preset_specs``: the models the presets
    added (label -> spec). The chosen preset is recorded (with its grid) on its own model's runs only."""
    head = ps.head_name()
    options = tuple(sorted(ps.head_options(head).items()))
    preset = ps.preset_fields()
    own = preset_specs.get(preset_label(preset["preset"])) if preset else None
    jobs = []
    for spec in specs:
        extra = preset if own is not None and spec == own else {}
        for seed in range(ps.seeds.value()):
            # several seeds: another random initialisation (nothing to vary for trained weights) and subset
            model = spec if spec.weight_state == "trained" else dataclasses.replace(spec, seed=spec.seed + seed)
            cfg = ProbeConfig(model=model, dataset=dataset, data_root=data_root, layer=ps.layer_value(),
                              pooling=ps.pooling_value(), head=head, train_limit=train_limit,
                              test_limit=ps.test_limit_value(), seed=seed, head_options=options,
                              tta=ps.tta_value(), refit=ps.refit_value(), **extra)
            jobs.append(Job("probe", cfg, spec.label + (f" · seed {seed}" if ps.seeds.value() > 1 else "")))
    return jobs
