"""scripts/gpu-check.sh's options for a short GPU lease (session 34, the first GPU lent): --only, --deadline, --keep,
GPU_CHECK_PYTHON (a GPU image's own interpreter) and the cuda tests' step in the report; bad values refused."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")


def _check(*args, tmp, **env):
    return subprocess.run(["bash", "scripts/gpu-check.sh", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "TMPDIR": str(tmp), "GPU_CHECK_PYTHON": sys.executable,
                                            **env})


@pytest.mark.parametrize("shared", ["as it is", "absent"])
def test_only_the_steps_asked_for_run_with_the_given_interpreter_and_are_kept(tmp_path, shared):
    out, keep = tmp_path / "report.md", tmp_path / "keep"
    # without the datasets the CIFAR-10 preset's "skipped" row was written whatever --only said (a clone without
    # ../shared failed here)
    env = {"FILTER_EXPLORER_SHARED": str(tmp_path / "no-shared")} if shared == "absent" else {}
    r = _check("--cpu-dry-run", "--only", "cuda-tests", "--out", str(out), "--keep", str(keep), tmp=tmp_path, **env)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert [ln for ln in text.splitlines() if ln.startswith("## ")] == ["## cuda-tests"]
    assert f"`{sys.executable} -m pytest -q -p no:cacheprovider -m cuda" in text and "- pytest: **" in text
    assert "--only cuda-tests" in text  # the arguments the script was given, in the report
    with tarfile.open(keep / "gpu-check-steps.tar.gz") as tar:
        names = {Path(n).name for n in tar.getnames()}
    assert {"steps.tsv", "cuda-tests.out", "cuda-tests.err"} <= names


@pytest.mark.parametrize("args,env,message", [
    (("--deadline", "soon"), {}, "--deadline takes whole seconds"),
    (("--fast",), {}, "unknown argument --fast"),
    ((), {"GPU_CHECK_PYTHON": "/no/such/python"}, "GPU_CHECK_PYTHON=/no/such/python is not an interpreter"),
])
def test_bad_options_are_refused_before_anything_runs(tmp_path, args, env, message):
    r = _check("--cpu-dry-run", *args, tmp=tmp_path, **env)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
    assert [p.name for p in tmp_path.iterdir()] == []  # no work folder left behind
