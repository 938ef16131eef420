"""Loading the night's scores as a Prefect task, over the plain functions in tasks/results.py."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from tasks.results import load_scores, remove_files
from tasks.retries import IO_RETRIES, is_transient
from tasks.scoring import ScoreFile
from tasks.settings import get_settings
from tasks.warehouse import open_warehouse


def _last_attempt(error: BaseException) -> bool:
    """Whether this failure ends the task (not retried), so its score file can go."""
    from prefect.runtime import task_run

    return not is_transient(error) or task_run.run_count > int(IO_RETRIES["retries"])


@task(name="load-scores", cache_policy=NONE, **IO_RETRIES)
def load_scores_task(scores: ScoreFile) -> int:
    """Load the score and reasons files (the reasons may still be being explained: load_scores
    waits for them), then remove them; they are also removed when the load fails for good (a
    retry needs them), so no employee rows stay in the work dir."""
    try:
        with open_warehouse(get_settings()) as warehouse:
            warehouse.on_lock_wait = get_run_logger().warning
            written = load_scores(warehouse, scores)
    except BaseException as error:
        if not isinstance(error, Exception) or _last_attempt(error):
            remove_files(scores)
        raise
    remove_files(scores)
    get_run_logger().info("Loaded %d rows into condition_scores for %s", written, scores.score_date)
    reasons = scores.stats.get("reasons")  # explained while condition_scores loaded
    if reasons:
        first = ", ".join(f"{name} {n:,}" for name, n in list(reasons["first_reason"].items())[:3])
        get_run_logger().info(
            "Reasons for %d employees (top %.1f%% of risk) loaded into score_reasons; most "
            "frequent first reasons: %s",
            reasons["employees"],
            100 * reasons["top_share"],
            first or "none",
        )
    return written
