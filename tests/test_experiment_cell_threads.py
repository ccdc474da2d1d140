"""An experiment cell keeps its thread count (``threads``, default 1) for every loop inside it: the training loop's
thread tuner started at the machine's count and followed the load, so a recipe's report moved by up to 0.9 points
between two runs (the order of float sums changes with the count)."""

from __future__ import annotations

from app.threads import ThreadTuner, fixed


def test_a_tuner_made_inside_fixed_keeps_that_count_and_does_not_adapt():
    seen = []
    with fixed(1):
        t = ThreadTuner("x", max_threads=4, set_threads=seen.append)
        assert (t.threads, t.max, t.adaptive) == (1, 1, False)
        with fixed(3):
            assert ThreadTuner("y", set_threads=seen.append).threads == 3
        assert ThreadTuner("z", set_threads=seen.append).threads == 1
    assert ThreadTuner("w", max_threads=2, adaptive=True, set_threads=seen.append).adaptive  # outside: as before


def test_a_train_cell_runs_every_step_on_its_own_count(fe_home, monkeypatch):
    from app import device
    from app.experiments.cell import run_cell
    from app.experiments.recipe import Cell

    monkeypatch.setattr(device, "configured_threads", lambda: 2)  # the machine's count: the tuner's start before
    settings = {"backbone": "simple", "dataset": "digits", "epochs": 1, "options": {"in_channels": 1, "widths": [4, 8]},
                "train_limit": 200, "test_limit": 50, "train_seed": 0}
    cell = Cell("t", "train", settings).to_dict()
    first, second = run_cell(cell), run_cell(cell)
    assert first["threads"]["used"] == [1] and first["threads"]["fixed"] is True
    assert (first["test_top1"], first["history"]) == (second["test_top1"], second["history"])
