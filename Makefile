# One command surface: these targets are exactly what README.md tells people to type.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(shell command -v uv 2>/dev/null || echo $(BIN)/uv)
STAMP := $(VENV)/.synced

.PHONY: run test test-unit test-flow test-integration lint audit bench lock clean help

help:
	@echo "make run     - demo data into .pulsewatch/warehouse.duckdb, then the nightly flow for today"
	@echo "make test    - lint + unit, flow and integration tests"
	@echo "make lint    - ruff, mypy (flows/, tasks/), bandit"
	@echo "make audit   - pip-audit of the lock files (report-only when PyPI cannot be asked)"
	@echo "make bench   - benchmarks (JSON results in benchmarks/results/)"
	@echo "make lock    - recompile requirements*.lock from pyproject.toml"

# The virtualenv is built from the hash-pinned dev lock only; uv is installed with pip if missing.
$(STAMP): requirements-dev.lock pyproject.toml
	@command -v uv >/dev/null 2>&1 || [ -x $(BIN)/uv ] || { $(PYTHON) -m venv $(VENV) && $(BIN)/pip install --quiet uv; }
	@[ -x $(BIN)/python ] || $(UV) venv --quiet --python $(PYTHON) $(VENV)
	$(UV) pip sync --quiet --python $(BIN)/python --require-hashes requirements-dev.lock
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/pulsewatch demo-data
	$(BIN)/pulsewatch run

test: $(STAMP) lint audit
	$(BIN)/pytest

test-unit: $(STAMP)
	$(BIN)/pytest -m unit

test-flow: $(STAMP)
	$(BIN)/pytest -m flow

test-integration: $(STAMP)
	$(BIN)/pytest -m integration

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/bandit -c pyproject.toml -r flows tasks -q -ll

# Known vulnerabilities fail the target; packages the vulnerability service cannot be asked
# about (no network, a mirror without the JSON API) are listed and skipped: report-only.
audit: $(STAMP)
	$(BIN)/pip-audit --requirement requirements.lock --requirement requirements-dev.lock \
		--require-hashes --disable-pip --progress-spinner off

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

lock:
	$(UV) pip compile pyproject.toml requirements-build.in --generate-hashes --python-version 3.11 -o requirements.lock
	$(UV) pip compile pyproject.toml requirements-build.in --extra dev --generate-hashes --python-version 3.11 -o requirements-dev.lock

clean:
	rm -rf $(VENV) .pulsewatch .pytest_cache .ruff_cache .mypy_cache
