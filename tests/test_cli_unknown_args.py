"""An argument no command takes (session 33): argparse refused it from the top parser, with the usage of ``main.py``
and no word of the command it was given to (``main.py: error: unrecognized arguments: --datset digits``). Now the
command's own parser refuses it, with its usage and the nearest option of that command for a misspelt one."""

from __future__ import annotations

from tests.cli_inprocess import run_cli


def test_a_misspelt_option_is_refused_by_its_command_with_the_nearest_option(tmp_path):
    r = run_cli("probe", "--datset", "digits", home=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    last = r.stderr.strip().splitlines()
    assert last[-1] == "main.py probe: error: unrecognized arguments: --datset (did you mean --dataset?) digits"
    assert last[0].startswith("usage: main.py probe ")


def test_a_nested_command_and_the_equals_form(tmp_path):
    r = run_cli("bench", "live", "--sise=4", home=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == ("main.py bench live: error: unrecognized arguments: --sise=4 (did "
                                                 "you mean --size?)")


def test_nothing_near_is_named_bare(tmp_path):
    r = run_cli("models", "list", "--zzzzzz", "extra", home=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == "main.py models list: error: unrecognized arguments: --zzzzzz extra"


def test_app_options_before_the_command_do_not_hide_it(tmp_path):
    # --workspace's value is a command's name too: the command is still bench live
    r = run_cli("--workspace", "probe", "bench", "live", "--sise", "3", home=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == ("main.py bench live: error: unrecognized arguments: --sise (did you "
                                                 "mean --size?) 3")


# --- an option of one value given twice ----------------------------------------------------------------------------
def test_a_single_valued_option_given_twice_with_two_values_is_refused(tmp_path):
    """``probe --backbone rdsn --backbone simple`` probed simple alone (argparse keeps the last), under a command
    line that named both."""
    r = run_cli("probe", "--dataset", "digits", "--backbone", "rdsn", "--backbone", "simple", home=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines()[-1] == ("main.py probe: error: --backbone given twice ('rdsn', then "
                                                 "'simple'); give it once")


def test_a_list_option_given_twice_says_to_give_every_item_after_one(tmp_path):
    r = run_cli("probe", "--dataset", "digits", "--options", "k=8", "--options", "blocks=1", home=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == ("main.py probe: error: --options given twice ('k=8', then "
                                                 "'blocks=1'); give every item after one --options")


def test_the_same_value_twice_and_repeatable_options_are_taken(tmp_path):
    from app.cli import build_parser

    args = build_parser().parse_args(["probe", "--dataset", "digits", "--head", "ridge", "--head", "ridge",
                                      "--bank", "conv1=a.npz", "--bank", "conv2=b.npz"])
    assert args.head == "ridge" and len(args.bank) == 2
    # a parser parses again (main.py parses argv twice): the first parse's values are not held against the second
    parser = build_parser()
    assert parser.parse_args(["probe", "--head", "ridge"]).head == "ridge"
    assert parser.parse_args(["probe", "--head", "svm"]).head == "svm"
