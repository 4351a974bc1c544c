# The two commands of the README: `make run` and `make test`.
# Each creates .venv when it is missing and (re)installs when pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test lint fmt clean browser lock audit-deps bench bench-login bench-audit bench-vault bench-vault-instructions

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
	$(BIN)/mypy
	$(BIN)/bandit -c pyproject.toml -q -r workflow bgcheck api --severity-level high
	@echo "make test: pip-audit NOT run: no advisory database is reachable from here; a release runs 'make audit-deps' (docs/operations.md#dependencies)"
	$(BIN)/pytest $(PYTEST_ARGS)

fmt: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis

# The locked dependencies (docs/operations.md#dependencies): requirements.lock is what a
# deployment runs, requirements-dev.lock adds the dev tools at the same pins; both hashed,
# resolved for CPython 3.11 on Linux. Pins that still fit pyproject.toml are kept;
# `make lock LOCK_ARGS=--upgrade` moves everything to the newest releases.
LOCK_FLAGS = --quiet --allow-unsafe --generate-hashes --strip-extras \
	--no-emit-index-url --no-emit-find-links $(LOCK_ARGS)

lock: $(VENV)/.installed-dev
	$(BIN)/pip-compile $(LOCK_FLAGS) --output-file requirements.lock pyproject.toml
	$(BIN)/pip-compile $(LOCK_FLAGS) --extra dev --constraint requirements.lock \
		--output-file requirements-dev.lock pyproject.toml

# Needs an advisory database (PyPI's per-release JSON or OSV): this machine's CI reaches
# neither, so `make test` does not run it. --strict: a package that cannot be looked up
# fails the audit instead of passing unaudited.
audit-deps: $(VENV)/.installed-dev
	$(BIN)/pip-audit --strict --disable-pip --progress-spinner off \
		-r requirements.lock -r requirements-dev.lock $(AUDIT_ARGS)

# The benchmark suite (bench/suite.py, about 7 minutes): every figure beside a baseline of
# the same run; the tables go to bench/results/latest.md, the profiles of what is below
# target to bench/results/profile-*.txt. It drives Debian's wrk and samples with py-spy.
bench: $(VENV)/.installed-dev
	@command -v wrk >/dev/null || { echo "installing wrk for the benchmarks"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
	@command -v wrk >/dev/null || { echo "wrk is missing and could not be installed" >&2; exit 1; }
	@test -x $(BIN)/py-spy || $(BIN)/python -m pip install --quiet py-spy
	$(BIN)/python bench/suite.py --profile $(BENCH_ARGS)

bench-login: $(VENV)/.installed-dev
	$(BIN)/python bench/login.py

bench-audit: $(VENV)/.installed-dev
	$(BIN)/python bench/audit_export.py $(BENCH_ARGS)

bench-vault: $(VENV)/.installed-dev
	$(BIN)/python bench/vault.py $(BENCH_ARGS)

bench-vault-instructions: $(VENV)/.installed-dev
	$(BIN)/python bench/vault_instructions.py
