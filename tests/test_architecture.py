"""The architecture, enforced: import contracts (pyproject.toml, [tool.importlinter]) and no hidden imports.

The contracts: ``app`` imports no Qt (nor pyqtgraph, shiboken6, superqt, qtpy), and the layers
``widgets | app.cli`` > ``app.bench_load`` > ``app.live | app.probe`` > ``app.models`` > ``app.kernels`` >
``app.data`` > ``app.threads`` > base modules. ``lint-imports`` prints the offending import chain when one breaks.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).parent / "lint-imports"
needs_linter = pytest.mark.skipif(not LINT.exists(), reason="import-linter is not installed (pip install import-linter)")



def _lint(cwd: Path, config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), str(config), "--no-cache"], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={"PYTHONPATH": str(cwd), "PATH": str(LINT.parent)})


@needs_linter
def test_import_contracts_are_kept():
    out = _lint(ROOT, ROOT / "pyproject.toml")
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "2 kept, 0 broken" in out.stdout


def _contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


@needs_linter
def test_contracts_catch_qt_in_the_core_and_an_arrow_up_the_layers(tmp_path):
    """The same contracts on a tiny tree with one forbidden import each: both must break, naming the import."""
    layers = next(c for c in _contracts() if c["type"] == "layers")
    for layer in layers["layers"]:
        for name in re.split(r"[|:]", layer.strip("()")):
            pkg = tmp_path.joinpath(*name.strip().split("."))
            pkg.mkdir(parents=True, exist_ok=True)
            (pkg / "__init__.py").touch()
    (tmp_path / "app" / "__init__.py").touch()
    (tmp_path / "app" / "viewer.py").write_text("import PySide6.QtWidgets\n")
    (tmp_path / "app" / "data" / "peek.py").write_text("import app.models\n")
    config = tmp_path / "contracts.toml"
    import json

    text = "[tool.importlinter]\nroot_packages = [\"app\", \"widgets\"]\ninclude_external_packages = true\n"
    for c in _contracts():
        text += "\n[[tool.importlinter.contracts]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in c.items())
    config.write_text(text)
    out = _lint(tmp_path, config)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "0 kept, 2 broken" in out.stdout
    assert "app.viewer -> PySide6" in out.stdout
    assert "app.data.peek -> app.models" in out.stdout


def test_no_hidden_imports_in_the_core():
    """No importlib.import_module / __import__ in app/: a missing module is an ImportError, not a fallback."""
    offenders = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "app").rglob("*.py")
                       if re.search(r"import_module|__import__", p.read_text(encoding="utf-8")))
    assert not offenders, f"hidden imports in {offenders}"
