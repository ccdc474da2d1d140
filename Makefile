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

# at most 45 min in all (it takes ~4 on 2 idle cores); a run stopped at that limit names the last test each worker
# started. TEST_WORKERS: pytest-xdist processes (auto: one per core; 0: the whole suite in this one process)
TEST_WORKERS ?= auto
test: $(STAMP)
	@rm -f $(VENV)/.last-test*
	QT_QPA_PLATFORM=offscreen FILTER_EXPLORER_TEST_TRACE=$(VENV)/.last-test timeout -k 60 2700 $(PY) -m pytest -q -n $(TEST_WORKERS) \
	  || { rc=$$?; [ $$rc -lt 124 ] || echo "make test: stopped after 45 min; the last test started: $$(cat $(VENV)/.last-test.* 2>/dev/null || cat $(VENV)/.last-test 2>/dev/null)"; exit $$rc; }

# the architecture contracts alone (pyproject.toml [tool.importlinter]; make test runs them too)
lint-imports: $(STAMP)
	$(VENV)/bin/lint-imports pyproject.toml --no-cache

screenshots: $(STAMP)
	for ws in kernels models live probe experiments insight; do QT_QPA_PLATFORM=offscreen $(PY) main.py --screenshot docs/screenshots/$$ws.png --workspace $$ws; done

clean:
	rm -rf $(VENV) .pytest_cache
