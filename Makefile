# Every target installs into .venv first, so each works as the first command on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
PACKAGES := orchestrate linter testkit pytest_plugin

.PHONY: demo test lint typecheck unit bench clean chromium postgres

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(BENCH_STAMP): pyproject.toml $(STAMP) | postgres
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

demo: $(STAMP)
	$(BIN)/python -m examples.demo
	$(BIN)/python -m examples.service.demo

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy $(PACKAGES) examples

# The PostgreSQL store's tests run on a throwaway server: install one if it is missing, and
# fail (not skip) those tests if it still cannot start.
postgres:
	bash .ci/postgres.sh

unit: $(STAMP) chromium postgres
	ORCHESTRATE_REQUIRE_POSTGRES=1 $(BIN)/python -m pytest -n 2 -q

# The browser test of `orchestrate ui` (tests/orchestrate/ui/test_browser.py) drives the
# distribution's headless Chromium. Installed here when missing and possible (root + apt-get);
# otherwise the test is skipped with a message (and fails under CI, see .ci/run).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (apt-get) for the orchestrate ui browser test"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      chromium >/dev/null; } || echo "could not install chromium"; \
	  else \
	    echo "chromium is missing and cannot be installed here (needs root and apt-get)"; \
	  fi; }

test: lint typecheck unit

bench: $(BENCH_STAMP)
	@status=0; for f in bench/[a-z]*.py; do echo "== $$f"; $(BIN)/python $$f || status=1; done; exit $$status

clean:
	rm -rf $(VENV) orchestrate.db build *.egg-info
