# The two commands of the README: `make run` and `make test`.
# Each creates .venv when it is missing and (re)installs when pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test lint fmt clean browser bench-login bench-audit bench-vault

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "bgcheck needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run
	$(BIN)/bgcheck demo
	$(BIN)/bgcheck serve --host $(HOST) --port $(PORT)

# The browser tests drive Debian's Chromium (Playwright cannot download its own here).
CHROMIUM ?= /usr/bin/chromium

browser:
	@test -x $(CHROMIUM) || { echo "installing chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	@test -x $(CHROMIUM) || { echo "Chromium is missing at $(CHROMIUM) and could not be installed" >&2; exit 1; }

test: $(VENV)/.installed-dev browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/pytest $(PYTEST_ARGS)

fmt: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis

bench-login: $(VENV)/.installed-dev
	$(BIN)/python bench/login.py

bench-audit: $(VENV)/.installed-dev
	$(BIN)/python bench/audit_export.py $(BENCH_ARGS)

bench-vault: $(VENV)/.installed-dev
	$(BIN)/python bench/vault.py $(BENCH_ARGS)
