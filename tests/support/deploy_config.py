"""Reading prefect.yaml and its companions the way `prefect deploy` does (shared by tests)."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
PREFECT_YAML = ROOT / "prefect.yaml"
LOCAL_YAML = ROOT / "deployments" / "local" / "prefect.yaml"
EXAMPLE_VALUES = ROOT / "deployments" / "values" / "example.env"
CHECK_VALUES = ROOT / "deployments" / "check-values.sh"
BASE_JOB_TEMPLATE = ROOT / "deployments" / "ecs" / "base-job-template.json"
ENV_PLACEHOLDER = re.compile(r"\{\{\s*\$([A-Z0-9_]+)\s*\}\}")


def load(path: Path = PREFECT_YAML) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


@functools.cache
def load_flow(entrypoint: str) -> Any:
    """The flow at `entrypoint` (flows/<file>.py:<function>, relative to the repository),
    loaded from its file as `prefect deploy` does; once per session (the tests only read it)."""
    from prefect.flows import load_flow_from_entrypoint

    return load_flow_from_entrypoint(str(ROOT / entrypoint))


def deployments(path: Path = PREFECT_YAML) -> dict[str, dict[str, Any]]:
    """'flow-name/deployment' -> deployment config; the flow name comes from the entrypoint."""
    found = {}
    for config in load(path)["deployments"]:
        flow = load_flow(config["entrypoint"])
        found[f"{flow.name}/{config['name']}"] = config
    return found


def example_values() -> dict[str, str]:
    values = {}
    for line in EXAMPLE_VALUES.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, value = line.split("=", 1)
            values[name.strip()] = value.strip()
    return values


def env_placeholders(path: Path = PREFECT_YAML) -> set[str]:
    return set(ENV_PLACEHOLDER.findall(path.read_text()))


def prefect_yaml_with_fake_docker(folder: Path) -> Path:
    """A copy of the real prefect.yaml in `folder` whose Docker build/push steps are the
    recording stand-ins of tests/support/fake_docker_steps.py (no Docker engine here); every
    other line is the real file's."""
    variant = folder / "prefect.yaml"
    variant.write_text(
        PREFECT_YAML.read_text().replace(
            "prefect_docker.deployments.steps.", "tests.support.fake_docker_steps."
        )
    )
    return variant
