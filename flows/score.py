"""score-population: champion → feature snapshot → score every active employee (and the reasons
of the top risk share) → load condition_scores and score_reasons."""

from datetime import date

from prefect import flow

from tasks.dates import resolve_date
from tasks.knobs import DEFAULTS
from tasks.prefect_tasks.feature_store import prepare_features_task
from tasks.prefect_tasks.features import check_source_tables_task
from tasks.prefect_tasks.model_store import load_model_task
from tasks.prefect_tasks.registry import ensure_result_tables_task, require_model_for_date_task
from tasks.prefect_tasks.reporting import publish_scoring_report_task
from tasks.prefect_tasks.results import load_scores_task
from tasks.prefect_tasks.scoring import score_population_task
from tasks.prefect_tasks.source_checks import check_source_data_task
from tasks.reporting import ScoringReport
from tasks.run_names import score_run_name


@flow(name="score-population", flow_run_name=score_run_name, log_prints=True)
def score_population(
    score_date: date | None = None,
    chunk_rows: int = DEFAULTS.chunk_rows,
    num_threads: int = DEFAULTS.num_threads,
    check_tables: bool = True,
    min_answered_ratio: float = DEFAULTS.min_answered_ratio,
    reasons_top_share: float = DEFAULTS.reasons_top_share,
) -> ScoringReport:
    """Score everyone active on a date with the champion and replace that date's rows in
    condition_scores. A date before the champion's training cut-off is scored by a model
    trained as of it or earlier, or refused.

    Args:
        score_date: The date to score (YYYY-MM-DD). Empty: today in Asia/Tokyo.
        chunk_rows: Employees scored per chunk; bounds the scoring memory.
        num_threads: LightGBM threads for prediction (the ECS task has 2 vCPU).
        check_tables: Check that the source tables exist and create the result tables first.
            nightly-pipeline passes false: it has done both earlier in the same run.
        min_answered_ratio: Refuse a month whose answered share falls below this fraction of
            the median share of the months before it.
        reasons_top_share: Share of the night's highest risks (0 to 1; 0.10 = the top 10%)
            whose three most risk-raising features are stored in score_reasons; 0: none.
    """
    day = resolve_date(score_date)
    if check_tables:
        check_source_tables_task()
    fingerprint = check_source_data_task(day, None, min_answered_ratio)
    if check_tables:
        ensure_result_tables_task()
    champion = require_model_for_date_task(day)  # no model scores its own past
    model = load_model_task(champion.stored)
    prepare_features_task(day, fingerprint)
    scores = score_population_task(model, champion, day, chunk_rows, num_threads, reasons_top_share)
    written = load_scores_task(scores)
    return publish_scoring_report_task(scores, written, champion)
