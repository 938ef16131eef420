"""`prefect deploy` against a real `prefect server` on loopback: the ECS deployments as
registered (pool created as `ecs` here: `ecs:push` exists only on Prefect Cloud), and a
backfill through the local `process` pool fanning out one nightly run per date."""

from __future__ import annotations

import json
import re
import subprocess
from datetime import date, datetime

import httpx
import pytest

from tasks.demo_data import DemoSpec, write_demo_data
from tests.conftest import DEMO_END_MONTH
from tests.integration.conftest import BIN
from tests.support.deploy_config import (
    BASE_JOB_TEMPLATE,
    ROOT,
    example_values,
    prefect_yaml_with_fake_docker,
)
from tests.support.flow_checks import active_employees, score_rows

pytestmark = pytest.mark.integration


def _api(server, method: str, path: str, **kwargs):
    response = httpx.request(method, f"{server.api_url}{path}", timeout=30, **kwargs)
    response.raise_for_status()
    return response.json()


def _deployment(server, name: str) -> dict:
    return _api(server, "GET", f"/deployments/name/{name}")


def _git_sha() -> str:
    return subprocess.run(
        ["git", "describe", "--always", "--dirty", "--abbrev=12", "--exclude=*"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_deploy_all_registers_the_ecs_deployments(prefect_server, tmp_path):
    created = prefect_server.prefect(
        "work-pool",
        "create",
        "pulsewatch-ecs",
        "--type",
        "ecs",
        "--base-job-template",
        str(BASE_JOB_TEMPLATE),
    )
    assert created.returncode == 0, created.stdout + created.stderr
    # the real prefect.yaml, with only the Docker steps pointed at recording stand-ins
    variant = prefect_yaml_with_fake_docker(tmp_path)
    docker_log = tmp_path / "docker.jsonl"
    values = example_values()

    def deploy(**env: str) -> subprocess.CompletedProcess:
        return prefect_server.prefect(
            "--no-prompt",
            "deploy",
            "--all",
            "--prefect-file",
            str(variant),
            cwd=ROOT,
            env=prefect_server.env(
                PYTHONPATH=str(ROOT), PULSEWATCH_FAKE_DOCKER_LOG=str(docker_log), **env
            ),
        )

    incomplete = deploy(**{k: v for k, v in values.items() if k != "PULSEWATCH_ECS_CLUSTER"})
    assert incomplete.returncode != 0
    assert "missing values: PULSEWATCH_ECS_CLUSTER" in incomplete.stdout + incomplete.stderr
    assert _api(prefect_server, "POST", "/deployments/filter", json={}) == []
    assert not docker_log.exists()

    result = deploy(**values)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    sha = _git_sha()
    repository = values["PULSEWATCH_ECS_IMAGE_REPOSITORY"]
    calls = [json.loads(line) for line in docker_log.read_text().splitlines()]
    # one build and one push for the three deployments
    assert [c["step"] for c in calls] == ["build", "push"]
    assert calls[0] | {"step": None} == {
        "step": None,
        "image_name": repository,
        "tag": sha,
        "dockerfile": "Dockerfile",
        "build_backend": "buildx",
        "platform": "linux/amd64",
    }

    nightly = _deployment(prefect_server, "nightly-pipeline/nightly")
    weekly = _deployment(prefect_server, "train-model/weekly")
    adhoc = _deployment(prefect_server, "backfill/adhoc")
    assert [
        (s["schedule"]["cron"], s["schedule"]["timezone"], s["active"])
        for s in nightly["schedules"]
    ] == [("0 2 * * *", "Asia/Tokyo", True)]
    assert [(s["schedule"]["cron"], s["schedule"]["timezone"]) for s in weekly["schedules"]] == [
        ("0 1 * * 0", "Asia/Tokyo")
    ]
    assert adhoc["schedules"] == []
    assert nightly["parameters"] == {"num_threads": 2} == weekly["parameters"]
    assert adhoc["parameters"] == {"max_parallel": 4}  # only overrides; the rest: tasks/knobs
    assert set(adhoc["parameter_openapi_schema"]["required"]) == {"start", "end"}
    for deployment in (nightly, weekly, adhoc):  # every field of the Custom run form has help
        properties = deployment["parameter_openapi_schema"]["properties"]
        assert all(p.get("description") for p in properties.values()), properties
    for deployment, size in ((nightly, (2048, 8192)), (weekly, (2048, 8192)), (adhoc, (256, 1024))):
        variables = deployment["job_variables"]
        assert deployment["work_pool_name"] == "pulsewatch-ecs"
        assert deployment["pull_steps"] == [
            {"prefect.deployments.steps.set_working_directory": {"directory": "/opt/pulsewatch"}}
        ]
        assert variables["image"] == f"{repository}:{sha}"
        assert (variables["cpu"], variables["memory"]) == size
        assert variables["cluster"] == values["PULSEWATCH_ECS_CLUSTER"]
        assert variables["task_role_arn"] == values["PULSEWATCH_ECS_TASK_ROLE_ARN"]
        assert variables["execution_role_arn"] == values["PULSEWATCH_ECS_EXECUTION_ROLE_ARN"]
        assert variables["vpc_id"] == values["PULSEWATCH_ECS_VPC_ID"]
        assert variables["network_configuration"] == {
            "subnets": [
                values["PULSEWATCH_ECS_PRIVATE_SUBNET_1"],
                values["PULSEWATCH_ECS_PRIVATE_SUBNET_2"],
            ],
            "securityGroups": [values["PULSEWATCH_ECS_SECURITY_GROUP"]],
            "assignPublicIp": "DISABLED",
        }
        assert variables["cloudwatch_logs_options"] == {
            "awslogs-group": values["PULSEWATCH_ECS_LOG_GROUP"],
            "awslogs-stream-prefix": "pulsewatch",
            "awslogs-create-group": "false",
        }
        assert variables["secrets"] == [
            {
                "name": "PULSEWATCH_WAREHOUSE_URL",
                "valueFrom": values["PULSEWATCH_ECS_WAREHOUSE_URL_SECRET_ARN"],
            }
        ]
        assert (
            variables["prefect_api_key_secret_arn"]
            == values["PULSEWATCH_ECS_PREFECT_API_KEY_SECRET_ARN"]
        )
        assert variables["env"] == {
            "PULSEWATCH_SCHEMA": values["PULSEWATCH_ECS_SCHEMA"],
            "PULSEWATCH_MODEL_STORE": values["PULSEWATCH_ECS_MODEL_STORE"],
            "PULSEWATCH_S3_STAGING": values["PULSEWATCH_ECS_S3_STAGING"],
            "PULSEWATCH_REDSHIFT_IAM_ROLE": values["PULSEWATCH_ECS_REDSHIFT_IAM_ROLE"],
            "PULSEWATCH_WORK_DIR": "/tmp/pulsewatch",
            # unset: the worker's own paths never reach the container (test_ecs_worker.py)
            "PREFECT_HOME": None,
            "PREFECT_PROFILES_PATH": None,
            "PREFECT_LOGGING_CONFIG_PATH": None,
            "PREFECT_RESULTS_LOCAL_STORAGE_PATH": None,
            "PREFECT_SERVER_MEMO_STORE_PATH": None,
        }
    # nothing left unresolved anywhere
    assert "{{" not in json.dumps([nightly, weekly, adhoc])


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_backfill_through_a_local_process_worker(prefect_server, pg, tmp_path):
    write_demo_data(pg, DemoSpec(employees=800, months=14, end_month=DEMO_END_MONTH))
    env = prefect_server.env(PREFECT_WORKER_QUERY_SECONDS="1", PREFECT_WORKER_PREFETCH_SECONDS="5")
    local = subprocess.run(
        ["make", "-s", "deploy-local"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert local.returncode == 0, local.stdout[-3000:] + local.stderr[-3000:]
    assert "prefect worker start --pool pulsewatch-local" in local.stdout
    pool = _api(prefect_server, "GET", "/work_pools/pulsewatch-local")
    assert pool["type"] == "process"
    adhoc = _deployment(prefect_server, "backfill/adhoc")
    assert adhoc["work_pool_name"] == "pulsewatch-local"
    assert adhoc["pull_steps"][0]["prefect.deployments.steps.set_working_directory"][
        "directory"
    ] == str(ROOT)

    days = [date(2026, 11, 17), date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 20)]
    worker_log = open(tmp_path / "worker.log", "w")  # noqa: SIM115 - closed below
    worker = subprocess.Popen(
        [str(BIN / "prefect"), "worker", "start", "--pool", "pulsewatch-local"],
        cwd=tmp_path,
        env=env,
        stdout=worker_log,
        stderr=subprocess.STDOUT,
    )
    try:
        run = prefect_server.prefect(
            "deployment",
            "run",
            "backfill/adhoc",
            "--param",
            f"start={days[0]}",
            "--param",
            f"end={days[-1]}",
            "--param",
            "max_parallel=2",
            "--watch",
            "--watch-timeout",
            "900",
            env=env,
            timeout=960,
        )
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        worker_log.close()
    log = (tmp_path / "worker.log").read_text()
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:] + log[-3000:]
    parent_id = re.search(r"UUID: ([0-9a-f-]{36})", run.stdout).group(1)
    parent = _api(prefect_server, "GET", f"/flow_runs/{parent_id}")
    assert parent["state"]["type"] == "COMPLETED"

    nightly = _deployment(prefect_server, "nightly-pipeline/nightly")
    children = _api(
        prefect_server,
        "POST",
        "/flow_runs/filter",
        json={
            "flow_runs": {
                "deployment_id": {"any_": [nightly["id"]]},
                "tags": {"all_": ["backfill"]},  # not the nightly schedule's own future runs
            },
            "sort": "START_TIME_ASC",
        },
    )
    # exactly one child per date, each its own run of the nightly deployment, linked to the parent
    assert sorted(c["parameters"]["score_date"] for c in children) == [str(d) for d in days]
    assert {c["state"]["type"] for c in children} == {"COMPLETED"}
    assert all("backfill" in c["tags"] and c["parent_task_run_id"] for c in children)
    for day in days:
        active = active_employees(pg, day)
        assert score_rows(pg, day) == (active, active) and active > 300
    # the first date ran alone; afterwards never more than max_parallel=2 at once
    spans = sorted((_when(c["start_time"]), _when(c["end_time"])) for c in children)
    assert all(spans[0][1] <= start for start, _ in spans[1:])
    for start, _ in spans:
        assert sum(1 for s, e in spans if s <= start < e) <= 2

    artifacts = _api(
        prefect_server,
        "POST",
        "/artifacts/filter",
        json={"artifacts": {"flow_run_id": {"any_": [parent_id]}}},
    )
    by_type = {a["type"]: a for a in artifacts}
    assert by_type["progress"]["data"] == 100.0
    assert (
        "| done | 4 |" in by_type["markdown"]["data"]
        and "| failed | 0 |" in by_type["markdown"]["data"]
    )
