"""A backbone with designed, non-random filters (scattering) is grouped as hand-designed, not random, in the Probe's
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
