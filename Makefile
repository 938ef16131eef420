# One command surface: these targets are exactly what README.md tells people to type.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(shell command -v uv 2>/dev/null || echo $(BIN)/uv)
STAMP := $(VENV)/.synced

.PHONY: run test test-unit test-flow test-integration lint bench lock clean help \
	deploy deploy-local ecs-pool

help:
	@echo "make run     - demo data into .pulsewatch/warehouse.duckdb, then the nightly flow for today"
	@echo "make test    - lint + unit, flow and integration tests"
	@echo "make lint    - ruff"
	@echo "make bench   - benchmarks (JSON results in benchmarks/results/)"
	@echo "make lock    - recompile requirements*.lock from pyproject.toml"
	@echo "make ecs-pool [POOL_TYPE=ecs:push|ecs] - create/update the work pool pulsewatch-ecs"
	@echo "make deploy ENV=<env> - build+push the image once, register the ECS deployments"
	@echo "make deploy-local     - register the deployments on a local process pool (starts nothing)"

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

test: $(STAMP) lint
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

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

lock:
	$(UV) pip compile pyproject.toml requirements-build.in --generate-hashes --python-version 3.11 -o requirements.lock
	$(UV) pip compile pyproject.toml requirements-build.in --extra dev --generate-hashes --python-version 3.11 -o requirements-dev.lock

clean:
	rm -rf $(VENV) .pulsewatch .pytest_cache .ruff_cache

# --- deployments (README "Deploy") ---------------------------------------------------------
# Per-account values live in one file, deployments/values/$(ENV).env (see example.env).
ENV ?=
VALUES = deployments/values/$(ENV).env
POOL_TYPE ?= ecs:push

define load_values
[ -n "$(ENV)" ] && [ -f "$(VALUES)" ] || { echo "usage: make $@ ENV=<env>, with $(VALUES) (copy deployments/values/example.env)" >&2; exit 2; }; \
set -a && . ./$(VALUES) && set +a
endef

# The work pool: `ecs:push` on Prefect Cloud (no worker), `ecs` on a self-hosted server (then
# run `prefect worker start --pool pulsewatch-ecs --type ecs` where it can reach AWS).
ecs-pool: $(STAMP)
	$(BIN)/prefect work-pool create pulsewatch-ecs --type $(POOL_TYPE) --overwrite \
	  --base-job-template deployments/ecs/base-job-template.json

# Needs docker (with buildx) and the aws CLI; logs docker in to the ECR registry first.
deploy: $(STAMP)
	@$(load_values); sh deployments/check-values.sh && \
	registry="$${PULSEWATCH_ECS_IMAGE_REPOSITORY%%/*}" && region="$$(echo "$$registry" | cut -d. -f4)" && \
	aws ecr get-login-password --region "$$region" | docker login --username AWS --password-stdin "$$registry" && \
	$(BIN)/prefect --no-prompt deploy --all

# Registers the same deployments on a `process` pool for a laptop. Starts no server and no
# worker: it prints the commands for those.
deploy-local: $(STAMP)
	@api="$$($(BIN)/python -c 'from prefect.settings import PREFECT_API_URL; print(PREFECT_API_URL.value() or "")')"; \
	if [ -z "$$api" ]; then \
	  echo "No Prefect API configured. Start one and point at it, then run make deploy-local again:"; \
	  echo "  $(BIN)/prefect server start                      # in another terminal"; \
	  echo "  export PREFECT_API_URL=http://127.0.0.1:4200/api"; \
	  exit 2; \
	fi; \
	$(BIN)/prefect work-pool inspect pulsewatch-local >/dev/null 2>&1 || \
	  $(BIN)/prefect work-pool create pulsewatch-local --type process >/dev/null || exit 1; \
	$(BIN)/prefect --no-prompt deploy --all --prefect-file deployments/local/prefect.yaml >/dev/null || \
	  { echo "prefect deploy failed; run: $(BIN)/prefect --no-prompt deploy --all --prefect-file deployments/local/prefect.yaml" >&2; exit 1; }; \
	echo "Registered nightly-pipeline/nightly, train-model/weekly, backfill/adhoc on pool pulsewatch-local at $$api"; \
	echo "Next (nothing was started):"; \
	echo "  $(BIN)/prefect worker start --pool pulsewatch-local    # runs use this shell's PULSEWATCH_* / .env"; \
	echo "  $(BIN)/prefect deployment run nightly-pipeline/nightly"; \
	echo "  $(BIN)/prefect deployment run backfill/adhoc --param start=2026-11-01 --param end=2026-11-07"
