"""A backbone with designed, non-random filters (scattering) is grouped as hand-designed, and one fitted to training
images (patches) as fitted, not random, in the Probe's
Compare and the history (its runs once showed "random" beside rdsn's)."""

from __future__ import annotations

import argparse

from app.cliargs import add_model_arguments
from app.models.spec import ModelSpec
from app.models.spec_args import spec_from_args


def test_designed_filters_are_hand_designed_and_random_ones_random():
    assert ModelSpec.make("scattering").weight_state == "hand-designed"
    assert ModelSpec.make("rdsn").weight_state == "random"
    assert ModelSpec.make("scattering", weight_state="random").weight_state == "random"  # an explicit state wins
    p = argparse.ArgumentParser()
    add_model_arguments(p)
    assert spec_from_args(p.parse_args(["--backbone", "scattering"])).weight_state == "hand-designed"
    assert spec_from_args(p.parse_args(["--backbone", "rdsn"])).weight_state == "random"


def test_fitted_filters_are_fitted_not_random():
    from app.models.catalog import default_weight_state

    assert ModelSpec.make("patches").weight_state == "fitted"
    assert default_weight_state("patches") == "fitted" and default_weight_state("simple") == "random"


def test_runs_stored_before_the_states_existed_are_read_as_what_they_are():
    """Old history rows said "random" (or nothing) for scattering and patches: read as hand-designed / fitted."""
    from app.models.catalog import stored_weight_state
    from app.probe.history import _summary_columns

    assert stored_weight_state({"backbone": "scattering", "weight_state": "random"}) == "hand-designed"
    assert stored_weight_state({"backbone": "patches"}) == "fitted"
    assert stored_weight_state({"backbone": "rdsn", "weight_state": "random"}) == "random"
    assert stored_weight_state({"backbone": "resnet20", "weight_state": "trained", "weights": "w.pt"}) == "trained"
    assert stored_weight_state({"backbone": "simple", "weight_state": "hand-designed"}) == "hand-designed"  # a bank
    # a stored run (as the history keeps it) of a patches backbone from before: its summary says fitted
    stored = {"top1": 0.7, "created": "2026-11-30T20:22:00", "classes": list("0123456789"),
              "config": {"dataset": "cifar10", "head": "logistic",
                         "model": {"backbone": "patches", "weight_state": "random"}}}
    assert _summary_columns(stored)["weight_state"] == "fitted"


def test_compare_orders_fitted_between_hand_designed_and_trained():
    from app.probe.compare import WEIGHT_STATES

    assert WEIGHT_STATES == ("random", "hand-designed", "fitted", "trained")


def test_the_history_reads_old_rows_with_their_true_state(tmp_path):
    """A row written with "random" for a patches run (as before) is listed and summarised as fitted."""
    from app.probe.history import History

    stored = {"top1": 0.7, "created": "2026-11-30T20:22:00", "classes": list("0123456789"),
              "config": {"dataset": "cifar10", "head": "logistic",
                         "model": {"backbone": "patches", "weight_state": "fitted"}}}
    with History(tmp_path / "h.sqlite") as h:
        run_id = h.add(stored)
        h.db.execute("UPDATE runs SET weight_state = 'random' WHERE id = ?", (run_id,))  # as an old row says
        h.db.commit()
        assert h.summary(run_id).weight_state == "fitted"
        assert [r.weight_state for r in h.list()] == ["fitted"]
