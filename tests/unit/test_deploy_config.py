"""prefect.yaml, its local twin and the values that feed them, checked without a server."""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import date

import pytest

from tests.support.deploy_config import (
    BASE_JOB_TEMPLATE,
    CHECK_VALUES,
    LOCAL_YAML,
    PREFECT_YAML,
    deployments,
    env_placeholders,
    example_values,
    load,
    load_flow,
)

pytestmark = [pytest.mark.unit, pytest.mark.prefect]  # see tests/conftest.py, PREFECT_GROUP
EXPECTED = {"nightly-pipeline/nightly", "train-model/weekly", "backfill/adhoc"}


@pytest.mark.parametrize("path", [PREFECT_YAML, LOCAL_YAML], ids=["ecs", "local"])
def test_every_entrypoint_is_a_flow_accepting_the_deployment_parameters(path):
    from prefect import Flow  # here: most tests of this file read YAML only, without Prefect

    found = deployments(path)
    assert set(found) == EXPECTED
    for name, config in found.items():
        module, function = config["entrypoint"].split(":")
        assert module.startswith("flows/") and module.endswith(".py"), name
        flow = load_flow(config["entrypoint"])
        assert isinstance(flow, Flow) and flow.fn.__name__ == function
        given = dict(config.get("parameters", {}))
        assert set(given) <= set(flow.parameters.properties), name
        if name == "backfill/adhoc":  # ad hoc: the range is given per run
            assert set(flow.parameters.required) == {"start", "end"}
            given |= {"start": "2026-11-01", "end": "2026-11-03"}
        else:
            assert not flow.parameters.required, name  # a schedule can start it as it is
        flow.validate_parameters(given)  # raises on an unknown parameter or a wrong type
    backfill = load_flow(found["backfill/adhoc"]["entrypoint"])
    # what `prefect deployment run 'backfill/adhoc' --param start=… --param end=…` sends
    given = {**found["backfill/adhoc"]["parameters"], "start": "2026-11-01", "end": "2026-11-03"}
    assert backfill.validate_parameters(given)["start"] == date(2026, 11, 1)
    with pytest.raises(Exception, match="reprocess"):
        backfill.validate_parameters({**given, "reprocess": "some"})


@pytest.mark.parametrize("path", [PREFECT_YAML, LOCAL_YAML], ids=["ecs", "local"])
def test_deployment_parameters_are_overrides_not_restated_defaults(path):
    """The defaults are defined once (tasks/knobs.py, read by the flow signatures): a deployment
    giving a parameter its default value would be a second copy that drifts."""
    for name, config in deployments(path).items():
        flow = load_flow(config["entrypoint"])
        defaults = {k: v.get("default") for k, v in flow.parameters.properties.items()}
        for parameter, value in (config.get("parameters") or {}).items():
            assert value != defaults[parameter], f"{name}: {parameter}={value!r} is the default"


def test_flow_defaults_are_the_knobs():
    from flows.backfill import backfill
    from flows.nightly import nightly_pipeline
    from flows.score import score_population
    from flows.train import train_model
    from tasks.knobs import DEFAULTS
    from tasks.promotion import PromotionPolicy
    from tasks.training import TrainingConfig

    knobs = {k: v for k, v in vars(DEFAULTS).items()}
    nightly = {k: v.get("default") for k, v in nightly_pipeline.parameters.properties.items()}
    assert knobs.items() <= nightly.items()  # nightly can set every knob
    for flow in (train_model, score_population, backfill):
        for parameter, schema in flow.parameters.properties.items():
            if parameter in knobs:
                assert schema["default"] == knobs[parameter], (flow.name, parameter)
    assert TrainingConfig().num_boost_round == DEFAULTS.num_boost_round
    assert TrainingConfig().validation_months == DEFAULTS.validation_months
    assert PromotionPolicy() == PromotionPolicy(
        DEFAULTS.auc_floor, DEFAULTS.max_auc_drop, DEFAULTS.max_calibration_error
    )


@pytest.mark.parametrize("path", [PREFECT_YAML, LOCAL_YAML], ids=["ecs", "local"])
def test_every_parameter_has_help_in_the_run_form(path):
    """Google-style `Args:` in each flow's docstring become the descriptions Prefect puts in
    the deployment's parameter schema (the Custom run form)."""
    for name, config in deployments(path).items():
        flow = load_flow(config["entrypoint"])
        schema = flow.parameters.model_dump()["properties"]
        missing = [p for p, s in schema.items() if not s.get("description")]
        assert not missing, f"{name}: no help for {missing}"
    from flows.nightly import nightly_pipeline

    described = nightly_pipeline.parameters.properties["score_date"]["description"]
    assert "Empty: today in Asia/Tokyo" in described


def test_a_mistyped_nightly_deployment_is_refused_before_the_run():
    from flows.backfill import backfill

    given = {"start": "2026-11-01", "end": "2026-11-03"}
    assert backfill.validate_parameters(given)["nightly_deployment"] == "nightly-pipeline/nightly"
    with pytest.raises(Exception, match="nightly_deployment"):
        backfill.validate_parameters({**given, "nightly_deployment": "nightly-pipline/nightly"})


def test_schedules_timezone_and_pool():
    found = deployments()
    nightly, weekly, adhoc = (
        found[name] for name in ("nightly-pipeline/nightly", "train-model/weekly", "backfill/adhoc")
    )
    assert nightly["schedules"] == [{"cron": "0 2 * * *", "timezone": "Asia/Tokyo", "active": True}]
    assert weekly["schedules"][0]["cron"] == "0 1 * * 0"
    assert adhoc["schedules"] == []
    for config in found.values():
        assert config["work_pool"]["name"] == "pulsewatch-ecs"


def test_local_twin_matches_the_ecs_deployments():
    ecs, local = deployments(PREFECT_YAML), deployments(LOCAL_YAML)
    for name in EXPECTED:
        for key in ("entrypoint", "schedules", "tags"):
            assert local[name].get(key) == ecs[name].get(key), (name, key)
        expected = dict(ecs[name]["parameters"])
        if name == "backfill/adhoc":  # DuckDB: one writing process at a time on a laptop
            del expected["max_parallel"]  # so the default (1)
        assert local[name]["parameters"] == expected
        assert local[name]["work_pool"] == {
            "name": "pulsewatch-local",
            "work_queue_name": "default",
        }
    assert not {"build", "push", "pull"} & set(load(LOCAL_YAML))


def test_one_image_build_and_push_tagged_with_the_commit():
    config = load()
    steps = [next(iter(step)) for step in config["build"]]
    assert steps == [
        "prefect.deployments.steps.run_shell_script",
        "prefect.deployments.steps.run_shell_script",
        "prefect_docker.deployments.steps.build_docker_image",
    ]
    build = config["build"][2]["prefect_docker.deployments.steps.build_docker_image"]
    assert build["tag"] == "{{ git-sha.stdout }}"
    assert build["image_name"] == "{{ $PULSEWATCH_ECS_IMAGE_REPOSITORY }}"
    assert build["build_backend"] == "buildx" and build["platform"] == "linux/amd64"
    assert [next(iter(step)) for step in config["push"]] == [
        "prefect_docker.deployments.steps.push_docker_image"
    ]
    # no deployment brings its own build/push (that would build once per deployment)
    for deployment in config["deployments"]:
        assert not {"build", "push", "pull"} & set(deployment), deployment["name"]
        assert deployment["work_pool"]["job_variables"]["image"] == "{{ build-image.image }}"
    assert not re.search(r":latest\b|tag: *\"?latest", PREFECT_YAML.read_text())
    assert config["pull"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "/opt/pulsewatch"}}
    ]


def test_job_variables_keep_secrets_out_and_tasks_private():
    for name, config in deployments().items():
        variables = config["work_pool"]["job_variables"]
        assert variables["network_configuration"]["assignPublicIp"] == "DISABLED", name
        assert len(variables["network_configuration"]["subnets"]) == 2
        assert variables["configure_cloudwatch_logs"] is True
        assert variables["cloudwatch_logs_options"]["awslogs-stream-prefix"] == "pulsewatch"
        assert variables["secrets"] == [
            {
                "name": "PULSEWATCH_WAREHOUSE_URL",
                "valueFrom": "{{ $PULSEWATCH_ECS_WAREHOUSE_URL_SECRET_ARN }}",
            }
        ]
        for key in variables["env"]:
            assert not any(word in key for word in ("URL", "PASSWORD", "KEY", "TOKEN", "WEBHOOK"))
        assert variables["cpu"] in (256, 2048) and variables["memory"] in (1024, 8192)


def test_fargate_sizes_fit_each_job():
    sizes = {n: c["work_pool"]["job_variables"] for n, c in deployments().items()}
    assert (
        sizes["nightly-pipeline/nightly"]["cpu"],
        sizes["nightly-pipeline/nightly"]["memory"],
    ) == (2048, 8192)
    assert (sizes["backfill/adhoc"]["cpu"], sizes["backfill/adhoc"]["memory"]) == (256, 1024)


def test_every_value_placeholder_is_checked_and_documented():
    used = env_placeholders()
    checked = {line.strip().rstrip("\\").strip() for line in CHECK_VALUES.read_text().splitlines()}
    checked = {name for name in checked if name.startswith("PULSEWATCH_ECS_")}
    checked.add("PULSEWATCH_ECS_PREFECT_API_KEY_SECRET_ARN")  # checked as "set", may be empty
    assert used == checked == set(example_values())


def _check_values(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PULSEWATCH_ECS_")}
    return subprocess.run(
        ["sh", str(CHECK_VALUES)], env={**clean, **env}, capture_output=True, text=True
    )


@pytest.mark.cli
def test_check_values_names_what_is_missing():
    values = example_values()
    assert _check_values(values).returncode == 0
    partial = {k: v for k, v in values.items() if k != "PULSEWATCH_ECS_CLUSTER"}
    result = _check_values({**partial, "PULSEWATCH_ECS_SECURITY_GROUP": ""})
    assert result.returncode == 2
    assert (
        "missing values: PULSEWATCH_ECS_SECURITY_GROUP PULSEWATCH_ECS_CLUSTER"
        in result.stderr.replace(
            "PULSEWATCH_ECS_CLUSTER PULSEWATCH_ECS_SECURITY_GROUP",
            "PULSEWATCH_ECS_SECURITY_GROUP PULSEWATCH_ECS_CLUSTER",
        )
    )
    self_hosted = _check_values({**values, "PULSEWATCH_ECS_PREFECT_API_KEY_SECRET_ARN": ""})
    assert self_hosted.returncode == 0
    tagged = {
        **values,
        "PULSEWATCH_ECS_IMAGE_REPOSITORY": values["PULSEWATCH_ECS_IMAGE_REPOSITORY"] + ":latest",
    }
    assert "must not carry a tag" in _check_values(tagged).stderr


def test_base_job_template_adds_secrets_to_the_container():
    template = json.loads(BASE_JOB_TEMPLATE.read_text())
    container = template["job_configuration"]["task_definition"]["containerDefinitions"][0]
    assert container["secrets"] == "{{ secrets }}"
    assert template["variables"]["properties"]["secrets"]["type"] == "array"
    from prefect_aws.workers.ecs_worker import ECSWorker

    default = ECSWorker.get_default_base_job_template()
    # everything else is the prefect-aws default, so the same template fits `ecs` and `ecs:push`
    assert set(template["variables"]["properties"]) - {"secrets"} == set(
        default["variables"]["properties"]
    )
