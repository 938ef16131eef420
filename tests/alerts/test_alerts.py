"""Alerts end to end: a real `prefect server` (triggers and actions on), the project's
automations applied by the real CLI, the nightly flow run as the deployment
nightly-pipeline/nightly by a runner, and a loopback HTTP receiver standing in for Slack."""

from __future__ import annotations

import os
import re
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from deployments.alert_messages import AMBER, RED
from deployments.automations import AlertPolicy, apply_alerting, automation_specs, block_specs
from tasks.demo_data import write_demo_data
from tasks.health import read_breaches
from tasks.warehouse import warehouse_for_url
from tests.conftest import SCORE_DATE, SMALL_DEMO
from tests.support.alert_services import children, wait_for
from tests.support.monitoring_checks import shift_tenure

pytestmark = pytest.mark.integration
DEPLOYMENT = "nightly-pipeline/nightly"
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
# How long "nothing arrives" is watched for: several times the measured failure->message delay.
QUIET_SECONDS = 6.0


def cli(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def applied(stack):
    """Automations with the default policy (nothing proactive can fire during a test)."""
    apply_alerting(AlertPolicy(), stack.receiver.url)
    return stack


def empty_warehouse(stack) -> None:
    path = Path(stack.warehouse_url.removeprefix("duckdb:///"))
    path.unlink(missing_ok=True)


def demo_warehouse(stack) -> None:
    empty_warehouse(stack)
    with warehouse_for_url(stack.warehouse_url) as warehouse:
        write_demo_data(warehouse, SMALL_DEMO)


def start_run(**parameters):
    from prefect.deployments import run_deployment

    wait_for(deployment_exists, 120, "the runner to register nightly-pipeline/nightly")
    return run_deployment(
        DEPLOYMENT, parameters={"score_date": str(SCORE_DATE), **parameters}, timeout=0
    )


def deployment_exists(name: str = DEPLOYMENT) -> bool:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            client.read_deployment_by_name(name)
            return True
        except ObjectNotFound:
            return False


def read_run(run_id):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(run_id)


def wait_final(run, timeout=240):
    def final():
        current = read_run(run.id)
        return current if current.state and current.state.type.value in FINAL else None

    return wait_for(final, timeout, f"flow run {run.name} to finish", every=0.5)


def messages_about(stack, run, timeout=60):
    """Wait (bounded) for the first message naming the run; return all of them after a quiet
    period long enough for a duplicate to show up."""
    wait_for(lambda: stack.receiver.about(run.name), timeout, f"a Slack message about {run.name}")
    time.sleep(QUIET_SECONDS)
    return stack.receiver.about(run.name)


def assert_run_link_opens(stack, text, run) -> None:
    """The *Run* link is this server's UI page of this run: its id is the run's, and the server
    answers for it (the UI itself is off in tests; its API serves the same id)."""
    import httpx

    (link,) = re.findall(r"\*Run\* (\S+)", text)
    base, _, run_id = link.rpartition("/runs/flow-run/")
    assert base == stack.server.ui_url
    answer = httpx.get(f"{stack.server.api_url}/flow_runs/{run_id}", timeout=10)
    assert answer.status_code == 200
    assert (answer.json()["id"], answer.json()["name"]) == (str(run.id), run.name)


def delay_seconds(message, state) -> float:
    return message.received_at - state.timestamp.timestamp()


def test_apply_is_idempotent_and_dry_run_changes_nothing(stack):
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.client.orchestration import get_client

    cli("automations", "apply")
    again = cli("automations", "apply")
    names = [s.name for s in automation_specs(AlertPolicy(ui_url=stack.server.ui_url))]
    for name in names + [b.name for b in block_specs()]:
        assert f"unchanged        {'automation' if name in names else 'block'} {name}" in again
    assert "0 of 8 objects changed" in again

    preview = cli("automations", "apply", "--dry-run", "--nightly-window", "20h")
    assert "update           automation pulsewatch-nightly-not-completed" in preview
    assert "1 of 8 objects would change" in preview

    with get_client(sync_client=True) as client:
        for name in names:
            found = client.read_automations_by_name(name)
            assert len(found) == 1, name
        nightly = client.read_automations_by_name("pulsewatch-nightly-not-completed")[0]
        assert nightly.trigger.within == timedelta(hours=26)  # the dry run changed nothing
        # The webhook is only in the block's secret values: not in any automation, not in the
        # block document as the API serves it, not in the CLI output.
        token = "secret-token"
        for name in names:
            automation = client.read_automations_by_name(name)[0]
            assert token not in automation.model_dump_json()
        for spec in block_specs():
            document = client.read_block_document_by_name(
                spec.name, "custom-webhook", include_secrets=False
            )
            assert token not in str(document.data)
    assert token not in again + preview
    block = CustomWebhookNotificationBlock.load("pulsewatch-slack-red")
    assert block.secrets.get_secret_value() == {"webhook_url": stack.receiver.url}


def test_failed_run_sends_exactly_one_red_message(applied):
    stack = applied
    empty_warehouse(stack)  # the source tables are missing: the flow raises WarehouseError
    run = wait_final(start_run())
    assert run.state.name == "Failed"
    assert "source table" in run.state.message and "is missing" in run.state.message

    found = messages_about(stack, run)
    assert len(found) == 1, [m.text for m in found]
    message = found[0]
    attachment = message.payload["attachments"][0]
    assert attachment["color"] == RED
    assert message.payload["text"] == "pulsewatch: nightly-pipeline Failed"
    text = attachment["text"]
    error_line = run.state.message.strip().splitlines()[0]
    assert "*Flow* nightly-pipeline   *Deployment* nightly" in text
    assert f"*Flow run* {run.name}   *State* Failed" in text
    assert f"*Score date* {SCORE_DATE}" in text
    assert f"*Error* {error_line[:300]}" in text
    assert f"*When* {run.state.timestamp:%Y-%m-%d %H:%M:%S %z}" in text
    assert f"*Run* {stack.server.ui_url}/runs/flow-run/{run.id}" in text
    assert_run_link_opens(stack, text, run)
    assert "Traceback" not in text and "secret-token" not in text
    delay = delay_seconds(message, run.state)
    print(f"\nmeasured failure->message delay: {delay:.2f}s")
    assert delay < 30


def test_successful_run_sends_nothing(applied):
    stack = applied
    demo_warehouse(stack)
    run = wait_final(start_run(force_train=True))
    assert run.state.name == "Completed", run.state.message
    time.sleep(QUIET_SECONDS)
    assert stack.receiver.about(run.name) == []
    assert stack.receiver.messages == []


def test_killed_flow_process_is_reported_as_crashed(applied):
    stack = applied
    demo_warehouse(stack)
    run = start_run(force_train=True)

    def running():
        current = read_run(run.id)
        return current.state and current.state.name == "Running"

    wait_for(running, 180, f"{run.name} to be Running", every=0.1)
    victims = children(stack.runner_pid)
    assert victims, "the runner has no child process running the flow"
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    crashed = wait_final(run, timeout=60)
    assert crashed.state.name == "Crashed", (crashed.state.name, crashed.state.message)

    found = messages_about(stack, crashed)
    assert len(found) == 1, [m.text for m in found]
    text = found[0].payload["attachments"][0]["text"]
    assert f"*Flow run* {crashed.name}   *State* Crashed" in text
    assert "*Error* " + crashed.state.message.strip().splitlines()[0][:300] in text
    print(f"\nmeasured crash->message delay: {delay_seconds(found[0], crashed.state):.2f}s")


def test_slack_down_does_not_touch_the_run(applied):
    stack = applied
    stack.receiver.status = 500
    empty_warehouse(stack)
    failed = wait_final(start_run())
    # Prefect tried to deliver (the receiver saw the POST and answered 500) ...
    wait_for(lambda: stack.receiver.about(failed.name), 60, "the delivery attempt")
    # ... and the run's own state is exactly what the flow produced.
    assert failed.state.name == "Failed"
    assert read_run(failed.id).state.message == failed.state.message
    assert "source table" in failed.state.message

    # While Slack is still down, the next run completes and loads its results.
    demo_warehouse(stack)
    done = wait_final(start_run(force_train=True))
    assert done.state.name == "Completed", done.state.message
    with warehouse_for_url(stack.warehouse_url) as warehouse, warehouse.engine.connect() as conn:
        import sqlalchemy as sa

        rows = conn.execute(
            sa.text("SELECT count(*) FROM condition_scores WHERE score_date = :d"),
            {"d": SCORE_DATE},
        ).scalar_one()
    assert rows > 0


def test_nightly_window_alerts_when_no_run_completes(stack):
    started = time.time()
    apply_alerting(AlertPolicy(nightly_window=timedelta(seconds=10)), stack.receiver.url)
    try:
        subject = "pulsewatch: nightly-pipeline/nightly has not completed in 10s"
        found = wait_for(
            lambda: [m for m in stack.receiver.messages if m.payload.get("text") == subject],
            60,
            "the proactive nightly-window alert",
        )
        text = found[0].payload["attachments"][0]["text"]
        assert found[0].payload["attachments"][0]["color"] == RED
        assert "*Flow* nightly-pipeline   *Deployment* nightly" in text
        assert "no Completed run in the last 10s" in text
        assert re.search(r"\*When\* \d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}", text)
        print(f"\nmeasured apply->proactive alert: {found[0].received_at - started:.2f}s")
    finally:
        apply_alerting(AlertPolicy(), stack.receiver.url)


def test_failed_backfill_sends_one_message_naming_the_failed_dates(applied):
    """Three dates against an empty warehouse: three failed nightly-pipeline runs started by
    backfill/adhoc, and one red message (the backfill's), none for the per-date runs."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
    from prefect.deployments import run_deployment

    stack = applied
    empty_warehouse(stack)
    wait_for(lambda: deployment_exists("backfill/adhoc"), 120, "backfill/adhoc")
    wait_for(deployment_exists, 120, DEPLOYMENT)
    run = run_deployment(
        "backfill/adhoc",
        parameters={"start": "2026-10-01", "end": "2026-10-03", "max_parallel": 3},
        timeout=0,
    )
    parent = wait_final(run, timeout=400)
    assert parent.state.name == "Failed"
    with get_client(sync_client=True) as client:
        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=["backfill"]))
        )
    # the per-date runs; the backfill run itself is backfill-2026-10-01..2026-10-03
    children = [
        c for c in children if c.name.startswith("backfill-2026-10-0") and ".." not in c.name
    ]
    assert sorted(c.name for c in children) == [
        "backfill-2026-10-01",
        "backfill-2026-10-02",
        "backfill-2026-10-03",
    ]
    assert {c.state.name for c in children} == {"Failed"}

    found = messages_about(stack, parent)
    assert len(found) == 1, [m.text for m in found]
    text = found[0].payload["attachments"][0]["text"]
    assert found[0].payload["text"] == "pulsewatch: backfill Failed"
    (error,) = [line for line in text.splitlines() if line.startswith("*Error* ")]
    assert "backfill: 3 of 3 dates failed: 2026-10-01..2026-10-03 (first error: 2026-10-01: " in (
        error
    ), error
    assert "*Score date* 2026-10-01..2026-10-03" in text
    # Nothing about the per-date runs, by name or by id.
    others = [m for m in stack.receiver.messages if m is not found[0]]
    assert [m.text for m in others if "backfill-2026-10-0" in m.text] == []
    assert len(stack.receiver.messages) == 1


def test_invalid_parameter_alert_names_the_parameter_and_why(applied):
    stack = applied
    run = wait_final(start_run(score_date="2026-02-30"))
    assert run.state.name == "Failed"
    assert run.state.message.startswith("Validation of flow parameters failed")

    found = messages_about(stack, run)
    assert len(found) == 1, [m.text for m in found]
    text = found[0].payload["attachments"][0]["text"]
    (error,) = [line for line in text.splitlines() if line.startswith("*Error* ")]
    assert error.startswith(
        "*Error* Validation of flow parameters failed with error: ParameterTypeError: "
        "Flow run received invalid parameters: - score_date: "
    ), error
    assert "day value is outside expected range" in error or "valid date" in error, error


def test_a_shifted_population_sends_exactly_one_amber_alert_naming_the_feature(applied):
    """The champion is trained on the demo population; then every hire date moves back by two
    standard deviations of tenure, and the next night's run (the deployment) finds
    tenure_months drifted: one amber message, naming it, by how much, since when, with the
    link to that run. The training night sent nothing."""
    stack = applied
    demo_warehouse(stack)
    first = wait_final(start_run(force_train=True))
    assert first.state.name == "Completed", first.state.message
    with warehouse_for_url(stack.warehouse_url) as warehouse:
        months = shift_tenure(warehouse)
    night = SCORE_DATE + timedelta(days=1)
    run = wait_final(start_run(score_date=str(night)))
    assert run.state.name == "Completed", run.state.message

    found = messages_about(stack, run)
    assert len(found) == 1, [m.text for m in found]
    assert len(stack.receiver.messages) == 1, [m.text for m in stack.receiver.messages]
    message = found[0]
    attachment = message.payload["attachments"][0]
    assert attachment["color"] == AMBER
    with warehouse_for_url(stack.warehouse_url) as warehouse:
        breaches = read_breaches(warehouse, night)
    (drifted,) = [b for b in breaches if b.rule == "feature_psi"]
    assert drifted.feature == "tenure_months", breaches
    assert [b.rule for b in breaches if b.rule != "feature_psi"] in ([], ["score_psi"])
    subject = "pulsewatch: model health: " + ", ".join(
        "risk score drifted" if b.rule == "score_psi" else f"{b.feature} drifted" for b in breaches
    )
    assert message.payload["text"] == subject
    text = attachment["text"]
    assert text.startswith(f"*Model* {drifted.model_version}   *Score date* {night}\n"), text
    assert (
        f"*Feature drift* tenure_months (importance rank {drifted.rank}) PSI "
        f"{drifted.value:.3f} above 0.25 since {night} (1 night(s))"
    ) in text
    assert f"*Flow run* {run.name}" in text
    assert_run_link_opens(stack, text, run)
    print(f"\nhire dates moved back {months} months: tenure_months PSI {drifted.value:.3f}")
