"""What validation said of each value of the selected hyperparameter (``app.probe.notes.selection_note``), as the
results view and the command line print it: ties named, so a "selected" value validation could not tell from the
others is never shown as a choice (issue 13: the weight decays that tied on MNIST)."""

from __future__ import annotations

import pytest

from app.probe.notes import selection_note


def test_each_value_in_sweep_order_and_a_clear_winner_inside_the_grid_says_nothing_more():
    assert selection_note([(1e-2, 0.985), (1e-3, 0.991), (1e-4, 0.99), (1e-5, 0.9892)]) == \
        "0.01: 98.50%, 0.001: 99.10%, 0.0001: 99.00%, 1e-05: 98.92%"


def test_a_best_value_at_an_end_of_the_grid_is_said_to_be_there():
    """The digits probe selected weight decay 1e-5, the grid's weakest, by 0.37 points over 1e-4: a smaller value was
    never tried, which the note now says (it read as an optimum)."""
    weakest = selection_note([(0.1, 0.9591), (0.01, 0.9814), (0.001, 0.9851), (1e-4, 0.9851), (1e-5, 0.9888)])
    assert weakest == ("0.1: 95.91%, 0.01: 98.14%, 0.001: 98.51%, 0.0001: 98.51%, 1e-05: 98.88%; the best is the "
                       "grid's last value (its weakest regularisation): a weaker one was not tried")
    assert selection_note([(1e-3, 0.991), (1e-4, 0.99), (1e-5, 0.9892)]) == (
        "0.001: 99.10%, 0.0001: 99.00%, 1e-05: 98.92%; the best is the grid's first value (its strongest "
        "regularisation): a stronger one was not tried")
    assert selection_note([(20, 0.9), (10, 0.95)]).endswith("a weaker one was not tried")  # kNN: k high -> low
    # a plateau that reaches an end is a tie, said as such, not an edge
    assert "grid's" not in selection_note([(0.1, 0.97), (0.01, 0.97), (0.001, 0.96)])


def test_ties_are_named_with_the_rule_that_broke_them():
    assert selection_note([(0.1, 0.9665), (0.01, 0.9703), (0.001, 0.9703)]) == \
        "0.1: 96.65%, 0.01: 97.03%, 0.001: 97.03%; 2 tie at the best, the first swept kept"
    assert selection_note(((1e-3, 0.991), (1e-4, 0.991), (1e-5, 0.991))) == \
        "0.001: 99.10%, 0.0001: 99.10%, 1e-05: 99.10%; all 3 tie: the grid did not choose, the first swept kept"


def test_nothing_to_say_without_a_choice():
    assert selection_note(()) == selection_note(None) == selection_note([(1e-4, 0.9)]) == ""
    assert selection_note([[5, 0.5], [3, None]]) == ""  # a value without a validation figure is not a choice


def test_the_command_line_prints_it_under_the_run(capsys, fe_home):
    from app.cli import run

    code = run(["--threads", "1", "probe", "--dataset", "digits", "--backbone", "simple", "--head", "logistic",
                "--grid", "0.1,0.01", "--test-limit", "100"])
    out = capsys.readouterr().out
    assert code == 0
    line = [ln for ln in out.splitlines() if ln.strip().startswith("validation per weight_decay:")]
    assert len(line) == 1 and line[0].split(": ", 1)[1].startswith("0.1: ") and ", 0.01: " in line[0]


def test_a_value_whose_warm_started_fit_needed_no_iteration_is_named_as_the_same_model():
    """The MNIST ties of issue 13: from the 1e-3 solution the smaller penalties' gradient was already under the head's
    tolerance, so their fits stopped at once: the note says so instead of suggesting three fitted models."""
    table = ((1e-3, 0.993), (1e-4, 0.993), (1e-5, 0.993))
    assert selection_note(table, (29, 0, 0)) == (
        "0.001: 99.30%, 0.0001: 99.30%, 1e-05: 99.30%; all 3 tie: the grid did not choose, the first swept "
        "kept; 0.0001, 1e-05 were already within the head's tolerance at the previous value's solution (warm start): "
        "the same model")
    assert selection_note(table, (29, 0, 40)).endswith("; 0.0001 was already within the head's tolerance at the "
                                                       "previous value's solution (warm start): the same model")
    assert selection_note(table, (29, 30, 40)) == selection_note(table)  # each fitted: nothing more to say
    assert selection_note(table, (0, 30, 40)) == selection_note(table)  # the first value has no previous solution
    assert selection_note(table, (29, 0)) == selection_note(table)  # misaligned (a damaged record): ignored
    assert selection_note(table, (None, None, None)) == selection_note(table)  # closed-form heads


def test_the_sweep_keeps_each_fit_s_iterations_and_the_run_records_them(fe_home):
    """``select_and_fit`` keeps one count per value (the heads' own stop reports); the probe's JSON and the history's
    record carry them, and the results view's text uses them."""
    import numpy as np

    from app.probe.config import HEAD_DEFAULTS
    from app.probe.selection import select_and_fit
    from app.tasks import run_to_end

    g = np.random.default_rng(0)
    X = g.normal(size=(300, 8)).astype(np.float32)
    y = (X[:, 0] + 0.3 * g.normal(size=300) > 0).astype(np.int64)
    sel = run_to_end(select_and_fit("logistic", X[:200], y[:200], X[200:250], y[200:250], X[250:], y[250:], 2,
                                    dict(HEAD_DEFAULTS["logistic"]), grid=(1e-3, 1e-4, 1e-5)))
    assert len(sel.iterations) == len(sel.table) == 3 and sel.iterations[0] > 0
    assert all(isinstance(i, int) and i >= 0 for i in sel.iterations)
    ridge = run_to_end(select_and_fit("ridge", X[:200], y[:200], X[200:250], y[200:250], X[250:], y[250:], 2,
                                      dict(HEAD_DEFAULTS["ridge"]), grid=(1.0, 10.0)))
    assert ridge.iterations == ()  # closed form: no fits to count


def test_the_run_json_and_the_results_view_carry_the_counts(capsys, fe_home):
    import json

    from app.cli import run
    from widgets.probe.model import RunView

    code = run(["--threads", "1", "probe", "--dataset", "digits", "--backbone", "rdsn", "--options", "k=64",
                "--head", "logistic", "--grid", "1e-3,1e-4,1e-5", "--test-limit", "100", "--json"])
    d = json.loads(capsys.readouterr().out)
    assert code == 0 and len(d["selection_iterations"]) == 3 and d["selection_iterations"][0] > 0
    view = RunView.from_dict(d)
    assert view.selection_iterations == tuple(d["selection_iterations"])
    assert view.selection_text() == selection_note(d["selection"], d["selection_iterations"], d["stop"])


def test_the_curves_note_names_the_selected_fit_and_where_it_started():
    """The Probe's training curves show the selected value's fit, which the sweep started from the previous value's
    solution: a one-point curve (the trained simple model on digits: 1e-5 after 1e-4, one iteration) is that fit's
    whole length, as the note under the curves says."""
    from app.probe.notes import curve_note

    table = [(0.1, 0.9591), (0.01, 0.9814), (0.001, 0.9851), (1e-4, 0.9851), (1e-5, 0.9888)]
    assert curve_note("logistic", {"weight_decay": 1e-5}, table, (16, 19, 13, 5, 1)) == \
        "weight_decay 1e-05 (from 0.0001) in 1 iteration"
    # the layer the run also selected is not the swept value (its 1 would match the grid's 1.0)
    assert curve_note("svm", {"layer": 1, "C": 1.0}, [(0.1, 0.9), (1.0, 0.95)], (7, 3)) == \
        "C 1 (from 0.1) in 3 iterations"
    assert curve_note("logistic", {"weight_decay": 1e-5}, table) == "weight_decay 1e-05 (from 0.0001)"  # old runs
    assert curve_note("logistic", {"weight_decay": 0.1}, table, (16, 19, 13, 5, 1)) == ""  # fitted from zero
    assert curve_note("ridge", {"alpha": 1.0}, [(10.0, 0.9), (1.0, 0.95)]) == ""  # closed form: no curve to explain
    assert curve_note("logistic", {}, table) == "" and curve_note("logistic", {"weight_decay": 1e-3}, []) == ""


@pytest.mark.gui
def test_the_probe_says_under_its_curves_what_a_finished_runs_curves_are(qtbot, fe_home):
    """After a run whose sweep selected a value after the first, the line under the Training tab's plots says which
    fit the curves are and where it started; a history run shows its own; a new batch clears it."""
    import types

    from widgets.probe.curves import CurvesView

    view = CurvesView()
    qtbot.addWidget(view)
    view.add_run(0, "rdsn (random)")
    view.set_note(0, "rdsn (random)", "weight_decay 1e-05 (from 0.0001) in 1 iteration")
    assert view.caption.text() == ("The selected value's fit, from the previous grid value's solution: rdsn (random): "
                                   "weight_decay 1e-05 (from 0.0001) in 1 iteration.")
    before = view.caption.height()
    view.add_run(1, "other")
    view.set_note(1, "a model with a much longer name than the others have", "weight_decay 0.01 (from 0.1) in 14 "
                                                                            "iterations")
    assert view.caption.height() == before and "much longer name" in view.caption.toolTip()
    view.set_note(1, "other", "")
    assert "other" not in view.caption.text()
    view.clear()
    assert view.caption.text() == " "
    view.show_run("stored", [{"step": 1, "loss": 0.1, "train_acc": 1.0, "val_acc": 0.9}], "weight_decay 1 (from 10)")
    assert view.caption.text().endswith("stored: weight_decay 1 (from 10).")


def test_a_warm_started_fit_of_a_few_iterations_is_not_called_a_tie_of_validation():
    """An audit (digits, rdsn): the sweep's fits after 0.1 moved 6, 3, 0 and 0 iterations from the previous value's
    solution, all five tied at 97.77% and the note said "validation cannot tell them apart"; fitted to a tolerance of
    1e-7 the values score 97.77 / 98.14 / 98.14 / 98.51 / 98.51%. The tie was the optimiser's."""
    table = ((0.1, 0.9777), (0.01, 0.9777), (0.001, 0.9777), (1e-4, 0.9777), (1e-5, 0.9777))
    note = selection_note(table, (34, 6, 3, 0, 0))
    assert "validation cannot tell them apart" not in note and "all 5 tie: the grid did not choose" in note
    assert note.endswith("; 0.0001, 1e-05 were already within the head's tolerance at the previous value's solution "
                         "(warm start): the same model; 0.01, 0.001 moved only 6, 3 iteration(s) from the previous "
                         "value's solution (warm start): the head's tolerance stopped them near that solution, not at "
                         "their own optimum, so these figures compare the values only roughly; a tighter tolerance "
                         "fits them apart (tol=1e-6 in the head options: probe --head-options tol=1e-6)")
    assert "moved only" not in selection_note(table, (34, 12, 30, 40, 50))


def test_adam_s_fixed_epochs_get_no_tolerance_advice():
    """A sweep with the Adam optimiser runs a fixed number of epochs per value: no tolerance stopped it, so the
    L-BFGS advice (a tighter tol) would be wrong there."""
    table = ((0.1, 0.90), (0.01, 0.92))
    adam = {"criterion": "fixed number of epochs (Adam)", "value": None, "tolerance": None, "iterations": 5,
            "converged": False}
    assert "moved only" in selection_note(table, (5, 5))
    assert "moved only" not in selection_note(table, (5, 5), adam)
