# Filter Explorer: `make run` launches the app, `make test` runs the whole test suite.
# Both create the virtual environment in .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint-imports venv screenshots clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip >/dev/null
	$(PY) -m pip install -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(PY) main.py

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

# the architecture contracts alone (pyproject.toml [tool.importlinter]; make test runs them too)
lint-imports: $(STAMP)
	$(VENV)/bin/lint-imports pyproject.toml --no-cache

screenshots: $(STAMP)
	for ws in kernels models live probe experiments insight; do QT_QPA_PLATFORM=offscreen $(PY) main.py --screenshot docs/screenshots/$$ws.png --workspace $$ws; done

clean:
	rm -rf $(VENV) .pytest_cache
