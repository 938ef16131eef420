"""`make ui-check`: the Prefect UI as the on-call sees it, in a real browser.

Starts a `prefect server` (UI on, free loopback port, its own PREFECT_HOME in a temporary
folder), registers the local deployments exactly as `make deploy-local` does, starts a process
worker on pulsewatch-local and runs, on a small demo warehouse:
  1. nightly-pipeline/nightly for yesterday (trains the champion, scores),
  2. the same for the day before, with one out-of-range survey score planted: it fails,
  3. nightly-pipeline/nightly without parameters, as the schedule runs it (today, Tokyo).
Then Debian's chromium (driven by playwright, no browser download) saves screenshots of the
last run's page, its artifacts, the history artifacts and the failed run into
.pulsewatch/ui-check/. Everything it started is stopped at the end (by process group).

Under pytest (tests/ui/test_ui_check.py) the server starts on a copy of the test run's built
Prefect database (tests/support/prefect_db.py), as the other test servers do; `make ui-check`
starts one server only, so it lets that server build its own database.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.support.alert_services import stop, wait_for
from tests.support.ports import free_port
from tests.support.prefect_db import COPY_SETTINGS, prefect_database, sqlite_url

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
OUT = REPO / ".pulsewatch" / "ui-check"


@dataclass
class UiCheck:
    """What the check saw: page texts by screenshot name, and the runs it made."""

    out: Path
    ui_url: str = ""
    score_date: date | None = None
    run_id: str = ""
    failed_run_id: str = ""
    stored_rows: int = 0  # read from the warehouse with SQL of its own, for the test
    stored_auc: float = 0.0
    texts: dict[str, str] = field(default_factory=dict)


def _env(home: Path, port: int, work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PULSEWATCH_"))}
    api = f"http://127.0.0.1:{port}/api"
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_API_URL=api,
        PREFECT_UI_API_URL=api,
        PREFECT_UI_URL=f"http://127.0.0.1:{port}",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",  # no 02:00 runs queued meanwhile
        PREFECT_SERVER_SERVICES_FOREMAN_ENABLED="false",
        PULSEWATCH_WAREHOUSE_URL=f"duckdb:///{work}/warehouse.duckdb",
        PULSEWATCH_MODEL_STORE=str(work / "models"),
        PULSEWATCH_WORK_DIR=str(work / "work"),
    )
    return env


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        args,
        cwd=REPO,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stop() ends it and its children
    )


def _run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def _plant_bad_score(env: dict[str, str], day: date) -> Any:
    """One out-of-range work_score in `day`'s feature month; returns the function that puts
    the original back."""
    import sqlalchemy as sa

    from tasks.dates import feature_month_for
    from tasks.warehouse import warehouse_for_url

    warehouse = warehouse_for_url(env["PULSEWATCH_WAREHOUSE_URL"])
    table, month = warehouse.qualified("survey_responses"), feature_month_for(day)
    update = f"UPDATE {table} SET work_score = :s WHERE survey_month = :m AND employee_id = :e"
    with warehouse.engine.begin() as conn:
        employee, score = conn.execute(
            sa.text(
                f"SELECT employee_id, work_score FROM {table} WHERE survey_month = :m "
                "AND work_score IS NOT NULL ORDER BY employee_id LIMIT 1"
            ),
            {"m": month},
        ).one()
        conn.execute(sa.text(update), {"s": 99, "m": month, "e": employee})
    warehouse.close()

    def restore() -> None:
        again = warehouse_for_url(env["PULSEWATCH_WAREHOUSE_URL"])
        with again.engine.begin() as conn:
            conn.execute(sa.text(update), {"s": score, "m": month, "e": employee})
        again.close()

    return restore


def _deployment_run(parameters: dict[str, Any], timeout: float = 600) -> Any:
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    run = run_deployment("nightly-pipeline/nightly", parameters=parameters, timeout=0)
    with get_client(sync_client=True) as client:

        def final() -> Any:
            current = client.read_flow_run(run.id)
            return current if current.state and current.state.is_final() else None

        return wait_for(final, timeout, f"flow run {run.name} to finish", every=1)


def _latest_artifact_ids(keys: list[str]) -> dict[str, str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    found = {}
    with get_client(sync_client=True) as client:
        for key in keys:
            latest = client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
                sort=ArtifactSort.CREATED_DESC,
                limit=1,
            )
            found[key] = str(latest[0].id)
    return found


def _screenshots(check: UiCheck) -> None:
    """One PNG per page (full page), and each page's text for the test."""
    from playwright.sync_api import sync_playwright

    ui, run = check.ui_url, f"{check.ui_url}/runs/flow-run/{check.run_id}"
    keys = ["nightly-result", "nightly-history", "model-history", "score-date-status"]
    artifacts = _latest_artifact_ids(keys)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})

            def shoot(name: str, url: str | None, wait_text: str, click: str | None = None):
                if url:
                    page.goto(url, wait_until="networkidle")
                if click:
                    page.get_by_text(click, exact=True).first.click()
                page.get_by_text(wait_text).first.wait_for(timeout=30_000)
                time.sleep(1)  # let the last API answers render
                page.screenshot(path=str(check.out / f"{name}.png"), full_page=True)
                check.texts[name] = page.inner_text("body")

            day = check.score_date.isoformat() if check.score_date else ""
            shoot("run", run, f"Nightly {day}: model")  # the run's log line
            shoot("run-artifacts", None, "nightly-history", click="Artifacts")
            for key in keys:
                shoot(key, f"{ui}/artifacts/artifact/{artifacts[key]}", day)
            shoot("failed-run", f"{ui}/runs/flow-run/{check.failed_run_id}", "values outside")
            shoot("runs", f"{ui}/runs", f"nightly-{day}")
        finally:
            browser.close()


def run_ui_check(out: Path = OUT, basetemp: Path | None = None) -> UiCheck:
    """`basetemp`: a pytest run's base temporary folder; its server then starts on a copy of
    the run's built Prefect database instead of building one."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install chromium")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    check = UiCheck(out)
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="pw-ui-check-") as tmp:
        home, work = Path(tmp) / "prefect", Path(tmp) / "pulsewatch"
        home.mkdir()
        work.mkdir()
        port = free_port()
        env = _env(home, port, work)
        check.ui_url = env["PREFECT_UI_URL"]
        server_env = dict(env)
        if basetemp is not None:
            database = prefect_database(basetemp, home / "prefect.db")
            server_env |= {
                "PREFECT_SERVER_DATABASE_CONNECTION_URL": sqlite_url(database),
                **COPY_SETTINGS,
            }
        started = []
        try:
            server = _start(
                [
                    str(bin_dir / "prefect"),
                    "server",
                    "start",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                server_env,
                Path(tmp) / "server.log",
            )
            started.append(server)

            def healthy() -> bool:
                if server.poll() is not None:
                    raise RuntimeError((Path(tmp) / "server.log").read_text()[-2000:])
                try:
                    return httpx.get(f"{env['PREFECT_API_URL']}/health", timeout=2).is_success
                except httpx.HTTPError:
                    return False

            print(f"prefect server at {check.ui_url} ...", flush=True)
            wait_for(healthy, 180, "prefect server health", every=0.5)
            _run([str(bin_dir / "pulsewatch"), "demo-data", "--employees", "600"], env)
            _run(["make", "-s", "deploy-local"], env)
            started.append(
                _start(
                    [str(bin_dir / "prefect"), "worker", "start", "--pool", "pulsewatch-local"],
                    env,
                    Path(tmp) / "worker.log",
                )
            )
            from prefect.settings import PREFECT_API_URL, temporary_settings

            # This process's own client (run_deployment, artifact ids) talks to that server.
            with temporary_settings({PREFECT_API_URL: env["PREFECT_API_URL"]}):
                _nightly_runs(check, env)
                print("screenshots ...", flush=True)
                _screenshots(check)
        finally:
            for process in reversed(started):
                stop(process)
            logs = out / "logs"
            logs.mkdir(exist_ok=True)
            for log in Path(tmp).glob("*.log"):
                shutil.copy(log, logs / log.name)
    return check


def _nightly_runs(check: UiCheck, env: dict[str, str]) -> None:
    from tasks.dates import business_today

    today = business_today()
    first = _deployment_run({"score_date": (today - timedelta(days=1)).isoformat()})
    print(f"{first.name}: {first.state.name}", flush=True)
    restore = _plant_bad_score(env, today - timedelta(days=2))
    try:
        failed = _deployment_run({"score_date": (today - timedelta(days=2)).isoformat()})
    finally:
        restore()
    print(f"{failed.name}: {failed.state.name}: {failed.state.message}", flush=True)
    scheduled = _deployment_run({})  # as the cron schedule starts it
    print(f"{scheduled.name}: {scheduled.state.name}", flush=True)
    if not scheduled.state.is_completed() or not failed.state.is_failed():
        raise RuntimeError(f"unexpected states: {scheduled.state!r}, {failed.state!r}")
    check.score_date, check.run_id, check.failed_run_id = today, str(scheduled.id), str(failed.id)
    check.stored_rows, check.stored_auc = _stored(env, today)


def _stored(env: dict[str, str], day: date) -> tuple[int, float]:
    """Rows scored for `day` and the champion's AUC, straight from the warehouse."""
    import sqlalchemy as sa

    from tasks.warehouse import warehouse_for_url

    warehouse = warehouse_for_url(env["PULSEWATCH_WAREHOUSE_URL"])
    with warehouse.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                f"SELECT COUNT(*) FROM {warehouse.qualified('condition_scores')} "
                "WHERE score_date = :d"
            ),
            {"d": day},
        ).scalar_one()
        auc = conn.execute(
            sa.text(
                f"SELECT auc FROM {warehouse.qualified('model_registry')} WHERE status = 'champion'"
            )
        ).scalar_one()
    warehouse.close()
    return int(rows), float(auc)


def main() -> None:
    began = time.monotonic()
    check = run_ui_check()
    for png in sorted(check.out.glob("*.png")):
        print(f"  {png.relative_to(REPO)}")
    print(f"ui-check done in {time.monotonic() - began:.0f}s (its server is stopped)")


if __name__ == "__main__":
    main()
