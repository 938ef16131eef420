"""score-population: champion → feature snapshot → score every active employee → load
condition_scores."""

from datetime import date

from prefect import flow

from tasks.dates import resolve_date
from tasks.feature_store import prepare_features_task
from tasks.features import check_source_tables_task
from tasks.model_store import load_model_task
from tasks.registry import ensure_result_tables_task, require_model_for_date_task
from tasks.reporting import ScoringReport, publish_scoring_report_task
from tasks.results import load_scores_task
from tasks.scoring import score_population_task
from tasks.source_checks import check_source_data_task


@flow(name="score-population", log_prints=True)
def score_population(
    score_date: date | None = None, chunk_rows: int = 50_000, num_threads: int = 1
) -> ScoringReport:
    """Score everyone active on `score_date` (default: today) with the champion and replace
    that date's rows in condition_scores. A date before the champion's training cut-off is
    scored by a model trained as of it or earlier, or refused. `num_threads`: LightGBM
    threads for prediction."""
    day = resolve_date(score_date)
    check_source_tables_task()
    fingerprint = check_source_data_task(day)
    ensure_result_tables_task()
    champion = require_model_for_date_task(day)  # no model scores its own past
    model = load_model_task(champion.stored)
    prepare_features_task(day, fingerprint)
    scores = score_population_task(model, champion, day, chunk_rows, num_threads)
    written = load_scores_task(scores)
    return publish_scoring_report_task(scores, written, champion)
