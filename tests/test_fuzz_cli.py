"""Property-based (#15): argument lists for the headless commands, run in-process through ``app.cli.run``: each
either succeeds (0) or ends with exit code 2 and an ``error:`` line (ours, or argparse's usage error); never another
exception, never a traceback. Bounded: tiny datasets, at most a few training steps, few examples
(``FUZZ_EXAMPLES`` for a longer hunt).
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import device
from app.cli import run
from app.kernels.generators import KINDS

N = int(os.environ.get("FUZZ_EXAMPLES", "8"))
# make test: the same examples every run (a suite that passes 3 runs out of 3); FUZZ_EXAMPLES=N: a random hunt
HUNT = "FUZZ_EXAMPLES" in os.environ
FUZZ = settings(max_examples=N, deadline=None, suppress_health_check=list(HealthCheck), derandomize=not HUNT,
                database=None if not HUNT else settings.default.database)

WEIRD = ["", "-1", "0", "1", "2", "3", "1e9", "1e999", "nan", "inf", "-inf", "abc", "[1]", "{}", "{\"k\": 1e9}",
         "9" * 40, "0x10", "1,2", ",", "=", "a=b", "true", "null", "é", " ", "--", "-", "100000", "grid100000",
         "2**31", "1.5", "-0"]
# what an operating system can hand over as argv: any text without NUL
free_text = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=8)
tok = st.one_of(st.sampled_from(WEIRD), free_text, st.integers(-10**6, 10**20).map(str))
small_int = st.one_of(st.sampled_from(["-1", "0", "1", "2", "abc", "1.5", "100000000000"]),
                      st.integers(-3, 40).map(str))


def _opt(name: str, value=tok):
    return st.tuples(st.just(name), value).map(list)


def _opts(*pairs, max_size: int = 4):
    return st.lists(st.one_of(*pairs), max_size=max_size).map(lambda xs: [a for x in xs for a in x])


def _kv(names):
    return st.tuples(st.sampled_from(names), tok).map(lambda t: f"{t[0]}={t[1]}")


@st.composite
def kernels_generate(draw, folder: Path):
    out = draw(st.sampled_from(["b.json", "b.npz", "b.npy", "b.txt", "no/such/b.json", ".", "b"]))
    args = ["kernels", "generate", "--kind", draw(st.sampled_from(list(KINDS) + ["nope", ""])),
            "--count", draw(small_int), "--size", draw(small_int), "--out", str(folder / out)]
    return args + draw(_opts(_opt("--in-channels", small_int), _opt("--seed"), _opt("--name"),
                             st.tuples(st.just("-p"), _kv(["std", "sigma", "orientations", "phases", "scales",
                                                           "a", "nope", ""])).map(list),
                             st.just(["--zero-mean"]), st.just(["--unit-norm"])))


@st.composite
def file_command(draw, folder: Path):
    name = draw(st.sampled_from(["k.json", "k.npz", "k.npy", "k.pt", "k.safetensors", "k.txt", "missing.json"]))
    p = folder / name
    if name != "missing.json":
        p.write_bytes(draw(st.binary(max_size=200)))
    which = draw(st.sampled_from(["show", "eval", "live"]))
    if which == "show":
        return ["kernels", "show", str(p)]
    if which == "eval":
        return ["eval", "--weights", str(p), "--dataset", "digits", "--test-limit", "20",
                *draw(st.sampled_from([[], ["--backbone", "simple"], ["--backbone", "resnet20"]]))]
    return ["bench", "live", "--backbone", draw(st.sampled_from(["simple", "resnet20"])), "--weights", str(p),
            "--frames", "1"]


@st.composite
def probe(draw, folder: Path):
    args = ["probe", "--dataset", draw(st.sampled_from(["digits", "digits", "nope", "imagefolder:" + str(folder)])),
            "--backbone", draw(st.sampled_from(["simple", "rdsn", "nope"])),
            "--train-limit", draw(st.sampled_from(["60", "100", "0", "-5", "abc"])), "--test-limit", "40"]
    return args + draw(_opts(
        _opt("--pooling", st.one_of(tok, st.sampled_from(["gap", "max", "grid2", "maxgrid17", "avgmaxgrid3"]))),
        _opt("--layer", small_int), _opt("--val", small_int), _opt("--feature-budget", small_int),
        _opt("--head", st.sampled_from(["ridge", "knn", "logistic", "nope"])), _opt("--grid"),
        st.tuples(st.just("--options"), st.one_of(tok, _kv(["k", "widths", "seed", "nope"]))).map(list),
        st.tuples(st.just("--head-options"), _kv(["alpha", "k", "C", "nope"])).map(list),
        _opt("--input-size"), _opt("--mean"), _opt("--std"), _opt("--init"), _opt("--seed", small_int)))


@st.composite
def train(draw, folder: Path):
    args = ["train", "--backbone", draw(st.sampled_from(["simple", "nope"])), "--dataset", "digits",
            "--train-limit", "64", "--test-limit", "32", "--max-steps", draw(st.sampled_from(["1", "2", "0", "-1"])),
            "--out", str(folder / draw(st.sampled_from(["ck", "no/such/ck", "."])))]
    return args + draw(_opts(_opt("--epochs", small_int), _opt("--lr"), _opt("--weight-decay"),
                             _opt("--batch-size", small_int), _opt("--val", small_int),
                             _opt("--optimizer", st.sampled_from(["sgd", "adamw", "nope"])),
                             _opt("--options", _kv(["widths", "kernel_size", "nope"])), _opt("--init"),
                             _opt("--freeze"), _opt("--seed", small_int), _opt("--resume")))


@st.composite
def misc(draw, folder: Path):
    return draw(st.one_of(
        st.tuples(st.just(["data", "info"]), st.sampled_from(["mnist", "cifar10", "nope", "imagefolder:",
                                                              "imagefolder:" + str(folder / "none")]),
                  _opts(_opt("--data-root", st.sampled_from([str(folder), str(folder / "none"), ""])))).map(
            lambda t: [*t[0], t[1], *t[2]]),
        st.tuples(st.just(["weights", "download"]), st.sampled_from(["resnet20-cifar10", "nope"]),
                  _opt("--url", st.one_of(tok, st.sampled_from(["ftp://x/y", "http://", "file:///etc/passwd",
                                                                "http://127.0.0.1:1/w.pt"])))).map(
            lambda t: [*t[0], t[1], *t[2]]),
        st.just(["models", "list"]), st.just(["kernels", "kinds"]), st.just(["data", "list"]),
        st.tuples(st.just(["data", "clear-cache"]), st.sampled_from([[], ["--list"], ["nope"], ["features"]])).map(
            lambda t: [*t[0], *t[1]]),
        st.lists(tok, max_size=4)))


@contextlib.contextmanager
def isolated():
    """A fresh home per example; the global device/thread choices restored afterwards."""
    keep_env = {k: os.environ.get(k) for k in ("FILTER_EXPLORER_HOME", "FILTER_EXPLORER_DATA",
                                               "FILTER_EXPLORER_THREADS")}
    keep_dev = (device._override, device._forced)
    with tempfile.TemporaryDirectory() as d:
        os.environ["FILTER_EXPLORER_HOME"] = os.path.join(d, "home")
        os.environ["FILTER_EXPLORER_DATA"] = os.path.join(d, "data")
        try:
            yield Path(d)
        finally:
            for k, v in keep_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            device._override, device._forced = keep_dev
            import torch

            torch.set_num_threads(int(os.environ.get("FILTER_EXPLORER_THREADS") or "1"))


def run_captured(argv: list[str]) -> tuple[int, str]:
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            rc = run(argv)
        except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
            rc = exc.code if isinstance(exc.code, int) else 2
    return rc, err.getvalue() + out.getvalue()[:200]  # (no command: the help, on stdout, exit 2)


GLOBAL = _opts(_opt("--threads", st.sampled_from(["1", "0", "-1", "100000", "x", "1.5", ""])),
               _opt("--device", st.sampled_from(["cpu", "auto", "cuda", "cuda:x", "mps", "tpu", ""])), max_size=1)
COMMANDS = {"kernels-generate": kernels_generate, "files": file_command, "probe": probe, "train": train,
            "misc": misc}


@pytest.mark.parametrize("command", list(COMMANDS))
@FUZZ
@given(data=st.data())
def test_any_argument_list_returns_or_is_a_clear_error(command, data):
    with isolated() as folder:
        threads = data.draw(st.sampled_from(["1", "1", "1", "abc", "0", "-1", "100000", " ", "2.5"]))
        os.environ["FILTER_EXPLORER_THREADS"] = threads  # (restored by isolated())
        argv = data.draw(GLOBAL) + data.draw(COMMANDS[command](folder))
        rc, err = run_captured(argv)
        assert rc in (0, 2), (threads, argv, rc, err)
        assert "Traceback" not in err, (argv, err)
        if rc == 2:
            assert "error:" in err or "usage:" in err, (argv, err)
