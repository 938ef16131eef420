# One command surface: these targets are exactly what README.md tells people to type.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(shell command -v uv 2>/dev/null || echo $(BIN)/uv)
STAMP := $(VENV)/.synced
# checkov pins urllib3<2, packaging 23 and networkx 2, which would downgrade the project's own dev
# environment; it gets its own hash-locked tool venv instead (requirements-iac.lock).
IAC_VENV := .venv-iac
IAC_STAMP := $(IAC_VENV)/.synced

# make infra-deploy VPC_ID=vpc-... SUBNET_IDS=subnet-a,subnet-b WAREHOUSE_CIDR=10.0.64.0/20 \
#                   ARTIFACT_BUCKET=<existing bucket for the Lambda zip> [STACK=pulsewatch] \
#                   [REDSHIFT_CLUSTER=...] [REDSHIFT_WORKGROUP_ID=<uuid>] [PREFECT_API_URL=...]
STACK ?= pulsewatch
AWS ?= aws
REDSHIFT_CLUSTER ?=
REDSHIFT_WORKGROUP_ID ?=
PREFECT_API_URL ?=

.PHONY: run test test-all test-unit test-cli test-flow test-integration test-redshift lint audit bench bench-profile lock \
        clean help demo-alerts infra-lint infra-deploy deploy deploy-local ecs-pool ui-check chromium

help:
	@echo "make run     - demo data into .pulsewatch/warehouse.duckdb, then the nightly flow for today"
	@echo "make test    - lint, audit and the unit, flow and integration tests (on every core)"
	@echo "make lint    - ruff, mypy (cli/, flows/, tasks/, deployments/, the Lambda, scripts/), bandit"
	@echo "make audit   - pip-audit of the lock files: counts audited/skipped, fails on known vulnerabilities"
	@echo "make bench   - benchmarks (JSON results in benchmarks/results/)"
	@echo "make bench-profile - the nightly source profile alone, 1M employees on PostgreSQL"
	@echo "make lock    - recompile requirements*.lock from pyproject.toml"
	@echo "make demo-alerts - a failing nightly run and its Slack alert, all on loopback"
	@echo "make ui-check    - screenshots of the Prefect UI (runs, artifacts) in .pulsewatch/ui-check/"
	@echo "make infra-lint   - cfn-lint + checkov on infra/template.yaml"
	@echo "make infra-deploy - package and deploy the AWS stack (needs the AWS CLI; see README)"
	@echo "make ecs-pool [POOL_TYPE=ecs:push|ecs] - create/update the work pool pulsewatch-ecs"
	@echo "make deploy ENV=<env> - build+push the image once, register the ECS deployments"
	@echo "make deploy-local     - register the deployments on a local process pool (starts nothing)"

# The virtualenv is built from the hash-pinned dev lock only; uv is installed with pip if missing.
# Bytecode is compiled once here (--compile-bytecode): uv does not by default, and where
# PYTHONDONTWRITEBYTECODE is set (as in this project's containers and sandboxes) every process
# would otherwise recompile pandas, LightGBM, scikit-learn and Prefect from source (seconds each).
# The Makefile is a prerequisite so that a change to these recipes rebuilds existing venvs.
$(STAMP): requirements-dev.lock pyproject.toml Makefile
	@command -v uv >/dev/null 2>&1 || [ -x $(BIN)/uv ] || { $(PYTHON) -m venv $(VENV) && $(BIN)/pip install --quiet uv; }
	@[ -x $(BIN)/python ] || $(UV) venv --quiet --python $(PYTHON) $(VENV)
	$(UV) pip sync --quiet --compile-bytecode --python $(BIN)/python --require-hashes requirements-dev.lock
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/pulsewatch demo-data
	$(BIN)/pulsewatch run

# Without --compile-bytecode: checkov runs once per `make test` (tests/infra/test_template.py)
# and compiles what it imports (measured 2026-12-04: the sync 4.4 s -> 0.4 s wall, 7.5 s -> 0.5 s
# of CPU; a checkov run 3.1 s -> 5.3 s), and this sync is on the path before any test starts.
$(IAC_STAMP): requirements-iac.lock $(STAMP)
	@[ -x $(IAC_VENV)/bin/python ] || $(UV) venv --quiet --python $(PYTHON) $(IAC_VENV)
	$(UV) pip sync --quiet --python $(IAC_VENV)/bin/python --require-hashes requirements-iac.lock
	@touch $(IAC_STAMP)

# Tests run on every core (pytest-xdist); tests sharing a slow session service run on one worker
# (tests/conftest.py, SHARED_SERVICES). PYTEST_WORKERS=0 runs them in one process.
# The whole suite starts two workers per core: its flow and integration tests spend much of their
# time waiting on servers, worker processes and polls (with one worker per core a run kept 1.03
# of 2 cores busy), so a third and fourth worker compute meanwhile. The unit tier computes only:
# one worker per core. Two workers still beat one process for it, although each worker imports
# pandas, LightGBM and scikit-learn and collects every unit file (about 2.2 s of CPU): measured
# 2026-12-04 on an idle machine, `make test-unit` 15.2-16.4 s wall (26-28 s of CPU) with two
# workers, 25 s wall (25 s of CPU) with PYTEST_WORKERS=0 (README.md, "Test times", has the
# later runs: the machine's speed drifts, compare side by side).
PYTEST_WORKERS ?= auto
# pytest runs with bytecode writing on even where PYTHONDONTWRITEBYTECODE is set (this project's
# sandboxes): pytest then caches its assertion-rewritten test modules and Python the project's
# own .pyc (in __pycache__/, git-ignored), instead of every worker and every process the tests
# start compiling them again (unit collection measured 9.2-10.3 s -> 6.1-6.3 s of CPU per worker).
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(BIN)/pytest
CORES := $(shell getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
PYTEST_ALL_WORKERS ?= $(if $(filter auto,$(PYTEST_WORKERS)),$(shell echo $$((2 * $(CORES)))),$(PYTEST_WORKERS))
xdist = $(if $(filter 0,$(1)),-p no:xdist,-n $(1) --dist loadgroup)
PYTEST_PARALLEL = $(call xdist,$(PYTEST_WORKERS))

# lint, audit (mostly waiting on the vulnerability service) and the tests run side by side;
# --output-sync prints each one's output whole when it ends. Any failure fails the target.
test: $(STAMP) $(IAC_STAMP)
	@$(MAKE) --no-print-directory -j3 --output-sync=target lint audit test-all

test-all: $(STAMP)
	$(PYTEST) $(call xdist,$(PYTEST_ALL_WORKERS))

test-unit: $(STAMP)
	$(PYTEST) -m unit $(PYTEST_PARALLEL)

test-cli: $(STAMP)
	$(PYTEST) -m cli $(PYTEST_PARALLEL)

test-flow: $(STAMP)
	$(PYTEST) -m flow $(PYTEST_PARALLEL)

test-integration: $(STAMP)
	$(PYTEST) -m integration $(PYTEST_PARALLEL)

# A real Redshift account (never part of `make test`): PULSEWATCH_TEST_REDSHIFT_URL,
# PULSEWATCH_TEST_S3_STAGING and PULSEWATCH_TEST_REDSHIFT_IAM_ROLE; skipped with the reason
# when they are not set. Works in a throwaway schema that is dropped afterwards.
test-redshift: $(STAMP)
	$(PYTEST) -m redshift tests/redshift -rs

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/bandit -c pyproject.toml -r cli flows tasks -q -ll

# Known vulnerabilities fail the target; packages the vulnerability service cannot be asked
# about (no network, a mirror without the JSON API) are listed and skipped: report-only.
# scripts/audit.py reads pip-audit's JSON report: it says how many packages were audited and how
# many could not be (pip-audit alone calls an unreachable PyPI "No known vulnerabilities found").
audit: $(STAMP)
	$(BIN)/python scripts/audit.py --pip-audit $(BIN)/pip-audit -- \
		--requirement requirements.lock --requirement requirements-dev.lock \
		--require-hashes --disable-pip --progress-spinner off

demo-alerts: $(STAMP)
	$(BIN)/python -m demos.alerts

# Debian's chromium for the browser check (playwright drives it; it downloads no browser).
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } || \
	  { echo "make ui-check needs Debian's chromium: apt-get install chromium (as root)" >&2; exit 1; }

# A prefect server + process worker on loopback, three nightly runs (one failing), screenshots.
ui-check: $(STAMP) chromium
	$(BIN)/python -m tests.ui.check

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

bench-profile: $(STAMP)
	$(BIN)/python -m benchmarks.source_profile

lock:
	$(UV) pip compile pyproject.toml requirements-build.in --generate-hashes --python-version 3.11 -o requirements.lock
	$(UV) pip compile pyproject.toml requirements-build.in --extra dev --generate-hashes --python-version 3.11 -o requirements-dev.lock
	$(UV) pip compile requirements-iac.in --generate-hashes --python-version 3.11 -o requirements-iac.lock

infra-lint: $(STAMP) $(IAC_STAMP)
	$(BIN)/cfn-lint infra/template.yaml
	$(IAC_VENV)/bin/checkov -f infra/template.yaml --framework cloudformation --quiet --compact --skip-download

# The AWS CLI is not a project dependency (make test never needs it): install it your usual way.
infra-deploy:
	@command -v $(AWS) >/dev/null || { echo "infra-deploy needs the AWS CLI ('aws'); see README, AWS infrastructure"; exit 1; }
	@[ -n "$(VPC_ID)" ] && [ -n "$(SUBNET_IDS)" ] && [ -n "$(WAREHOUSE_CIDR)" ] && [ -n "$(ARTIFACT_BUCKET)" ] || \
	  { echo "usage: make infra-deploy VPC_ID=vpc-... SUBNET_IDS=subnet-a,subnet-b WAREHOUSE_CIDR=10.0.64.0/20 ARTIFACT_BUCKET=my-bucket"; exit 2; }
	@mkdir -p .pulsewatch
	$(AWS) cloudformation package --template-file infra/template.yaml \
	  --s3-bucket $(ARTIFACT_BUCKET) --s3-prefix $(STACK)/lambda \
	  --output-template-file .pulsewatch/infra-packaged.yaml
	$(AWS) cloudformation deploy --template-file .pulsewatch/infra-packaged.yaml \
	  --stack-name $(STACK) --capabilities CAPABILITY_NAMED_IAM --no-fail-on-empty-changeset \
	  --parameter-overrides VpcId=$(VPC_ID) PrivateSubnetIds=$(SUBNET_IDS) WarehouseCidr=$(WAREHOUSE_CIDR) \
	    RedshiftClusterIdentifier=$(REDSHIFT_CLUSTER) RedshiftServerlessWorkgroupId=$(REDSHIFT_WORKGROUP_ID) \
	    PrefectApiUrl=$(PREFECT_API_URL)
	$(AWS) cloudformation describe-stacks --stack-name $(STACK) \
	  --query 'Stacks[0].Outputs[].[OutputKey,OutputValue]' --output table

clean:
	rm -rf $(VENV) $(IAC_VENV) .pulsewatch .pytest_cache .ruff_cache .mypy_cache

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
