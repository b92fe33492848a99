# Huifang — the two commands of the README:
#   make run    set everything up and start the platform on SQLite with demo data
#   make test   set everything up and run the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEPS := $(VENV)/.deps-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test test-suite lint bench-demo bench-engine bench-smoke chromium clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install only when pyproject.toml changes.
$(DEPS): pyproject.toml | $(BIN)/python
	rm -f $(VENV)/.deps-*
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: $(DEPS)
	$(BIN)/huifang run

# Real-browser tests drive Debian's chromium (Playwright's own browser download does not work
# on intranet machines); install it, with a CJK font for readable screenshots, when it is
# missing and we are allowed to.
chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian's chromium for the browser tests …"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      chromium fonts-wqy-microhei >/dev/null); \
	  else \
	    echo "chromium is missing: install it (sudo apt-get install chromium) for the browser tests" >&2; \
	    exit 1; \
	  fi; \
	fi

test: $(DEPS) chromium test-suite

# The suite runs on pytest-xdist workers, a test file per worker at a time so the files that
# build a world once keep it to one worker: one worker more than the cores, because much of
# the suite waits (browsers, live servers, worker processes, backups in subprocesses) and an
# extra worker fills that time (2 cores: 244 s with 2 workers, 223 s with 3; 4 was slower and
# flaky). PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= $(shell $(PYTHON) -c 'import os; print((os.cpu_count() or 1) + 1)')

# mypy (about 20 s on one core from a clean clone) checks beside the tests; its report is
# printed after them, and either failing fails the target.
test-suite: $(DEPS)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	@$(BIN)/mypy huifang tests > $(VENV)/mypy.log 2>&1 & checking=$$!; \
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile; tests=$$?; \
	wait $$checking; checked=$$?; \
	echo "$(BIN)/mypy huifang tests"; cat $(VENV)/mypy.log; \
	exit $$(( tests || checked ))

lint: $(DEPS)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench-demo: $(DEPS)
	$(BIN)/python bench/demo_load.py

bench-engine: $(DEPS)
	$(BIN)/python bench/engine.py

# Every benchmark at smoke size on throw-away databases: SQLite, and PostgreSQL when it answers
# on localhost (ONLY=sqlite or ONLY=postgres for one); fails when any benchmark fails.
bench-smoke: $(DEPS)
	$(BIN)/python bench/smoke.py $(if $(ONLY),--only $(ONLY))

clean:
	rm -rf $(VENV) var .pytest_cache
