"""Stand-ins for prefect_docker's build and push steps (there is no Docker engine here).

test_deploy.py points a copy of prefect.yaml at these instead of prefect_docker's; the inputs
are the real file's, and each step keeps prefect-docker's own per-process output cache, so the
calls recorded in $PULSEWATCH_FAKE_DOCKER_LOG are the builds and pushes `prefect deploy`
would really have done."""

from __future__ import annotations

import json
import os
from typing import Any

from prefect_docker.deployments.steps import cacheable


def _record(step: str, **inputs: Any) -> None:
    with open(os.environ["PULSEWATCH_FAKE_DOCKER_LOG"], "a") as log:
        log.write(json.dumps({"step": step, **inputs}, sort_keys=True) + "\n")


@cacheable
def build_docker_image(image_name: str, tag: str, **inputs: Any) -> dict[str, Any]:
    _record("build", image_name=image_name, tag=tag, **inputs)
    return {
        "image_name": image_name,
        "tag": tag,
        "image": f"{image_name}:{tag}",
        "image_id": "sha256:fake",
        "additional_tags": [],
    }


@cacheable
def push_docker_image(image_name: str, tag: str, **inputs: Any) -> dict[str, Any]:
    _record("push", image_name=image_name, tag=tag, **inputs)
    return {"image_name": image_name, "tag": tag, "image": f"{image_name}:{tag}"}
