# syntax=docker/dockerfile:1.7
# The image every pulsewatch flow run starts from (ECS push pool, ECS worker, or plain docker):
# the hash-pinned runtime dependencies in /opt/venv, the code in /opt/pulsewatch.
# Built by `prefect deploy` (prefect.yaml) with BuildKit; no secret is baked in: the container
# receives its configuration at run time (ECS `secrets` from Secrets Manager, plain `env`).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ARG UV_VERSION=0.13.8
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m pip install --no-cache-dir "uv==${UV_VERSION}" \
    && uv venv --python /usr/local/bin/python /opt/venv
# 1. Dependencies only, from the hash-pinned lock, in their own layer: rebuilt only when
#    requirements.lock changes; the cache mount keeps downloads between builds.
COPY requirements.lock /tmp/requirements.lock
RUN --mount=type=cache,target=/root/.cache/uv \
    uv pip sync --python /opt/venv/bin/python --require-hashes /tmp/requirements.lock
# 2. The project itself, without dependencies (setuptools comes from the lock).
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cli ./cli
COPY flows ./flows
COPY tasks ./tasks
COPY deployments ./deployments
RUN uv pip install --python /opt/venv/bin/python --no-deps --no-build-isolation --no-cache .

FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PULSEWATCH_WORK_DIR=/tmp/pulsewatch
RUN groupadd --system --gid 10001 pulsewatch \
    && useradd --system --uid 10001 --gid pulsewatch --create-home --home-dir /home/pulsewatch pulsewatch
COPY --from=builder /opt/venv /opt/venv
# The deployments' entrypoints (flows/<file>.py:<flow>) are read from here (prefect.yaml `pull`);
# owned by root, so the flow user cannot change the code it runs.
WORKDIR /opt/pulsewatch
COPY pyproject.toml ./
COPY flows ./flows
COPY tasks ./tasks
COPY deployments ./deployments
# PYTHONDONTWRITEBYTECODE keeps the runtime from writing .pyc, so the project's own code is
# compiled here, once (the venv's packages were compiled by uv in the builder).
RUN python -m compileall -q flows tasks deployments
USER 10001:10001
# A push pool or worker replaces the command with the flow run's own (`prefect flow-run execute`).
CMD ["prefect", "flow-run", "execute"]
