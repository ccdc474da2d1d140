"""train's thread counts are honest: a fixed --threads gives bit-identical weights for the same seed; the automatic
count (the load-robust ThreadTuner, which may change it between steps and with it the order of float sums) is
recorded in the output and the sidecar with the note that reproducibility needs a fixed --threads N."""

from __future__ import annotations

import json

import pytest
import torch

from tests.cli_inprocess import run_cli

ARGS = ("train", "--backbone", "simple", "--options", "widths=4,8", "--dataset", "digits", "--train-limit", "200",
        "--test-limit", "50", "--batch-size", "32", "--epochs", "1", "--seed", "5")


@pytest.fixture
def keep_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def test_a_fixed_thread_count_gives_bit_identical_weights(tmp_path, keep_threads):
    outs = []
    for name in ("a", "b"):
        res = run_cli("--threads", "2", *ARGS, "--out", str(tmp_path / name), home=tmp_path / "home")
        assert res.returncode == 0, res.stderr
        assert "threads used: 2 (fixed)" in res.stdout and "--threads N" not in res.stdout
        outs.append(res.stdout)
        assert json.loads((tmp_path / f"{name}.json").read_text())["threads"] == {"used": [2], "fixed": True}
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()


class FlipTuner:
    """Stands in for ``ThreadTuner`` under load: adaptive, and a different count every step."""

    def __new__(cls, name):
        from app.threads import ThreadTuner

        class Flip(ThreadTuner):
            def record(self, seconds):
                super().record(seconds)
                self.threads = 1 + self.steps % 2
                self._apply(self.threads)

        return Flip(name, max_threads=2, adaptive=True)


def test_automatic_thread_counts_are_recorded_and_flagged(tmp_path, monkeypatch, keep_threads):
    import app.models.train as T

    monkeypatch.setattr(T, "ThreadTuner", FlipTuner)
    out = tmp_path / "auto"
    res = run_cli(*ARGS, "--out", str(out), home=tmp_path / "home")
    assert res.returncode == 0, res.stderr
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("threads used: ")]
    assert line == ["threads used: 1-2 (automatic: adapted to the machine's load; the count changes the order of "
                    "float sums, so bit-for-bit reproducible weights need a fixed --threads N)"]
    rep = json.loads([ln for ln in res.stdout.splitlines() if ln.startswith("threads: ")][0][len("threads: "):])
    assert rep["used"] == [1, 2] and rep["fixed"] is False and rep["adaptive"] is True
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["threads"] == {"used": [1, 2], "fixed": False}
    # a resume that runs fixed adds its count to the run's, and the run as a whole stays "not fixed"
    monkeypatch.undo()
    res = run_cli(*ARGS[:-4], "--epochs", "2", "--seed", "5", "--resume", str(out), "--out", str(out),
                  home=tmp_path / "home")
    assert res.returncode == 0, res.stderr
    assert json.loads(out.with_suffix(".json").read_text())["threads"] == {"used": [1, 2], "fixed": False}


def test_the_seed_help_says_reproducibility_needs_fixed_threads():
    from app.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["train"]
    seed = next(a for a in sub._actions if a.dest == "seed")
    assert "fixed --threads N" in " ".join(seed.help.split())
