"""What validation said of each value of the selected hyperparameter (``app.probe.config.selection_note``), as the
results view and the command line print it: ties named, so a "selected" value validation could not tell from the
others is never shown as a choice (issue 13: the weight decays that tied on MNIST)."""

from __future__ import annotations

from app.probe.config import selection_note


def test_each_value_in_sweep_order_and_a_clear_winner_says_nothing_more():
    assert selection_note([(1e-3, 0.991), (1e-4, 0.99), (1e-5, 0.9892)]) == "0.001: 99.10%, 0.0001: 99.00%, 1e-05: 98.92%"


def test_ties_are_named_with_the_rule_that_broke_them():
    assert selection_note([(0.1, 0.9665), (0.01, 0.9703), (0.001, 0.9703)]) == \
        "0.1: 96.65%, 0.01: 97.03%, 0.001: 97.03%; 2 tie at the best, the first swept kept"
    assert selection_note(((1e-3, 0.991), (1e-4, 0.991), (1e-5, 0.991))) == \
        "0.001: 99.10%, 0.0001: 99.10%, 1e-05: 99.10%; all 3 tie: validation cannot tell them apart, the first swept kept"


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
