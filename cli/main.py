"""The `pulsewatch` command line. Every command has --help.

Bad input exits non-zero with one line naming the problem (no traceback); set
PULSEWATCH_DEBUG=1 to see the traceback of an unexpected error.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable
from datetime import date
from functools import wraps
from typing import Annotated, Any, cast

import typer

from tasks.dates import date_range, parse_date
from tasks.errors import PulsewatchError
from tasks.knobs import DEFAULTS, check_top_share
from tasks.preflight import check_before_run
from tasks.registry_cli import models_app

app = typer.Typer(
    name="pulsewatch",
    help="Nightly condition-risk scoring of pulse surveys, orchestrated by Prefect.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

DateOption = Annotated[
    str | None, typer.Option("--date", help="Score date YYYY-MM-DD (default: today, Asia/Tokyo).")
]


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def friendly(command: Callable[..., Any]) -> Callable[..., Any]:
    """Print one line and exit 2 on a user error, 1 on anything unexpected."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except PulsewatchError as error:
            typer.echo(f"pulsewatch: {_one_line(error)}", err=True)
            raise typer.Exit(2) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as error:
            if os.environ.get("PULSEWATCH_DEBUG"):
                traceback.print_exc()
            typer.echo(
                f"pulsewatch: unexpected {type(error).__name__}: {_one_line(error)} "
                "(PULSEWATCH_DEBUG=1 shows the traceback)",
                err=True,
            )
            raise typer.Exit(1) from None

    return wrapper


class _NoTraceback(logging.Filter):
    """Keep Prefect's progress lines on the console but drop the tracebacks it attaches to
    failures: the CLI ends with one line naming the problem (PULSEWATCH_DEBUG=1 keeps them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info = None
        record.exc_text = None
        return True


def _console_without_tracebacks() -> None:
    if os.environ.get("PULSEWATCH_DEBUG"):
        return
    from prefect.logging.configuration import setup_logging

    setup_logging()
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _NoTraceback) for f in handler.filters):
            handler.addFilter(_NoTraceback())


def _date(value: str | None, option: str = "--date") -> date | None:
    return parse_date(value, option) if value is not None else None


def _positive(value: int, option: str) -> int:
    if value < 1:
        raise PulsewatchError(f"{option}: must be at least 1 (got {value})")
    return value


@app.command("demo-data")
@friendly
def demo_data(
    employees: Annotated[int, typer.Option(help="Number of employees.")] = 2_000,
    months: Annotated[int, typer.Option(help="Survey months, ending last month.")] = 24,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 7,
    end_month: Annotated[
        str | None, typer.Option(help="Last survey month YYYY-MM-01 (default: last month).")
    ] = None,
) -> None:
    """Write synthetic source tables into the configured warehouse (replacing earlier demo data)."""
    _positive(employees, "--employees")
    if months < 2:
        raise PulsewatchError(f"--months: must be at least 2 (got {months})")
    last_month = _date(end_month, "--end-month")
    from tasks.demo_data import DemoSpec, write_demo_data
    from tasks.settings import get_settings
    from tasks.warehouse import open_warehouse

    spec = DemoSpec(employees, months, seed, last_month)
    with open_warehouse(get_settings()) as warehouse:
        summary = write_demo_data(warehouse, spec)
        where = warehouse.where()
    typer.echo(
        f"demo data: {summary.employees:,} employees ({summary.leavers:,} leave), "
        f"{summary.survey_rows:,} survey rows for "
        f"{summary.first_month:%Y-%m}..{summary.last_month:%Y-%m} in {where}"
    )


@app.command()
@friendly
def run(
    date_: DateOption = None,
    force_train: Annotated[
        bool,
        typer.Option(
            help="Train a candidate even when the champion is fresh "
            "(the promotion gate still decides whether it scores)."
        ),
    ] = False,
) -> None:
    """Nightly flow for one score date: train if needed, then score and load."""
    day = _date(date_)
    check_before_run()  # bad config: one line, before any flow run exists (and before Prefect)
    from cli.summary import nightly_summary
    from flows.nightly import nightly_pipeline

    _console_without_tracebacks()
    report = nightly_pipeline(score_date=day, force_train=force_train)
    typer.echo(nightly_summary(report))


@app.command()
@friendly
def train(date_: DateOption = None) -> None:
    """Train a candidate model and promote it if it passes the gate."""
    day = _date(date_)
    check_before_run()  # bad config: one line, before any flow run exists (and before Prefect)
    from cli.summary import training_summary
    from flows.train import train_model

    _console_without_tracebacks()
    typer.echo(training_summary(train_model(train_end_date=day)))


@app.command()
@friendly
def score(
    date_: DateOption = None,
    chunk_rows: Annotated[
        int, typer.Option(help="Employees scored per chunk.")
    ] = DEFAULTS.chunk_rows,
    reasons_top_share: Annotated[
        float,
        typer.Option(
            help="Share of the highest risks (0 to 1) whose top three features are stored "
            "in score_reasons; 0: none."
        ),
    ] = DEFAULTS.reasons_top_share,
) -> None:
    """Score the active population with the champion and load the results."""
    _positive(chunk_rows, "--chunk-rows")
    check_top_share(reasons_top_share, "--reasons-top-share")
    day = _date(date_)
    check_before_run()  # bad config: one line, before any flow run exists (and before Prefect)
    from cli.summary import scoring_summary
    from flows.score import score_population

    _console_without_tracebacks()
    typer.echo(
        scoring_summary(
            score_population(
                score_date=day, chunk_rows=chunk_rows, reasons_top_share=reasons_top_share
            )
        )
    )


@app.command("backfill")
@friendly
def backfill_command(
    start: Annotated[str, typer.Option(help="First score date YYYY-MM-DD.")],
    end: Annotated[str, typer.Option(help="Last score date YYYY-MM-DD (inclusive).")],
    reprocess: Annotated[
        str, typer.Option(help="missing: skip scored dates; all: redo them.")
    ] = "missing",
    max_parallel: Annotated[
        int,
        typer.Option(
            help="Dates running at once. Only 1 here: this command runs the dates one after "
            "another in its own process (a DuckDB file takes one writer; on PostgreSQL/Redshift "
            "one process is sized for one night). For N at once run the backfill/adhoc "
            "deployment: prefect deployment run backfill/adhoc -p max_parallel=N ..."
        ),
    ] = 1,
    dry_run: Annotated[bool, typer.Option(help="Only show which dates would run.")] = False,
) -> None:
    """Run the nightly pipeline for every date in a range."""
    first, last = parse_date(start, "--start"), parse_date(end, "--end")
    date_range(first, last)
    if reprocess not in ("missing", "all"):
        raise PulsewatchError(f"--reprocess: {reprocess!r} is not one of: missing, all")
    from tasks.backfill import Reprocess, check_max_parallel

    check_max_parallel(max_parallel, in_deployment=False, option="--max-parallel")
    check_before_run()  # bad config: one line, before any flow run exists (and before Prefect)
    from cli.summary import backfill_summary
    from flows.backfill import backfill

    _console_without_tracebacks()
    report = backfill(
        start=first,
        end=last,
        reprocess=cast("Reprocess", reprocess),
        max_parallel=max_parallel,
        dry_run=dry_run,
    )
    typer.echo(backfill_summary(report))


@app.command()
@friendly
def doctor() -> None:
    """Preflight: configuration, warehouse, source tables, model store, Prefect API, Slack."""
    from tasks.doctor import run_checks

    checks = run_checks()
    for check in checks:
        mark = "ok  " if check.ok else ("FAIL" if check.required else "warn")
        line = f"[{mark}] {check.name}: {check.detail}"
        if not check.ok and check.fix:
            line += f" -> {check.fix}"
        typer.echo(line)
    if any(not c.ok and c.required for c in checks):
        raise typer.Exit(1)


app.add_typer(models_app(friendly), name="models")  # models list | promote | retire

automations_app = typer.Typer(
    help="Prefect automations that post failures to Slack.", no_args_is_help=True
)
app.add_typer(automations_app, name="automations")


def _duration_option(help_text: str) -> Any:
    return typer.Option(help=help_text + " Like 90s, 15m, 4h, 2d.")


@automations_app.command("apply")
@friendly
def automations_apply(
    dry_run: Annotated[bool, typer.Option(help="Only print what would change.")] = False,
    late_after: Annotated[
        str, _duration_option("Alert when a Late run has not been picked up after this.")
    ] = "15m",
    pending_limit: Annotated[
        str, _duration_option("Alert when a run stays Pending this long.")
    ] = "15m",
    running_limit: Annotated[
        str, _duration_option("Alert when a run stays Running this long.")
    ] = "4h",
    nightly_window: Annotated[
        str, _duration_option("Alert when no nightly-pipeline/nightly run completes within this.")
    ] = "26h",
) -> None:
    """Create or update (by name) the Slack notification blocks and the automations on the
    Prefect API in use (PREFECT_API_URL); applying twice leaves one copy of each."""
    from deployments.automations import AlertPolicy, apply_alerting, parse_duration
    from tasks.errors import ConfigError
    from tasks.settings import get_settings

    policy = AlertPolicy(
        late_limit=parse_duration(late_after, "--late-after"),
        pending_limit=parse_duration(pending_limit, "--pending-limit"),
        running_limit=parse_duration(running_limit, "--running-limit"),
        nightly_window=parse_duration(nightly_window, "--nightly-window"),
        ui_url=get_settings().prefect_ui_url,
    )
    webhook = get_settings().slack_webhook_url
    if webhook is None:
        raise ConfigError("PULSEWATCH_SLACK_WEBHOOK_URL: not set (the Slack incoming webhook)")
    changes = apply_alerting(policy, webhook.get_secret_value(), dry_run=dry_run)
    for change in changes:
        typer.echo(str(change))
    changed = sum(c.action != "unchanged" for c in changes)
    verb = "would change" if dry_run else "changed"
    typer.echo(f"automations: {changed} of {len(changes)} objects {verb} (webhook URL not shown)")


def main() -> None:
    """Console-script entry point."""
    # Prefect's temporary local server (used when PREFECT_API_URL is unset) runs its database
    # migrations on first start, which can exceed the 20 s default on a busy 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    # Nothing leaves the machine from a local run (and there is no internet to reach anyway).
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    app(prog_name="pulsewatch")


if __name__ == "__main__":  # pragma: no cover
    main()
