"""What the nightly monitoring step costs on 1,000,000 employees (PostgreSQL; issue 17).

`python -m benchmarks.monitoring` (also a step of `make bench`). Loads demo data for
PULSEWATCH_BENCH_MONITORING_EMPLOYEES (default 1,000,000) x 8 months into its own schema and
one score row per employee for each of SCORE_DATES (random risks, loaded with the loader the
flow uses), vacuums, then times what evaluate-past-scores does in a night, REPEATS times each:
- `evaluate`: tasks/monitoring.py evaluate_score_dates over the two score dates (two feature
  months: per month, lock, delete, the labels computed from the source rows and joined to
  condition_scores inside the warehouse, metrics inserted; then the metrics read back);
- `drift`: write_drift of one score date's PSI rows (one small partition replaced).
The evaluation is repeated as a night would repeat it after a re-score: it replaces its rows.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from datetime import date

from benchmarks.postgres_io import PG_URL, reset_schema, settle

SCHEMA = "pw_bench_monitoring"
EMPLOYEES = int(os.environ.get("PULSEWATCH_BENCH_MONITORING_EMPLOYEES", "1000000"))
END_MONTH = date(2026, 10, 1)
# in two feature months (2026-08, 2026-09) whose next months' surveys hold the labels
SCORE_DATES = (date(2026, 9, 10), date(2026, 10, 10))
REPEATS = 3


def _scores(day: date, ids):
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(day.toordinal())
    n = len(ids)
    return pa.table(
        {
            "score_date": pa.array([day] * n, pa.date32()),
            "employee_id": pa.array(ids, pa.int64()),
            "risk_score": pa.array(rng.random(n)),
            "model_version": pa.array(["m20260801T020000-bench"] * n),
            "flow_run_id": pa.array(["7c1e2b34-5d6f-4a8b-9c0d-1e2f3a4b5c6d"] * n),
            "scored_at": pa.array(np.full(n, np.datetime64("2026-09-10T02:00:00", "us"))),
        }
    )


def run() -> dict:
    import numpy as np

    from tasks.demo_data import FIRST_EMPLOYEE_ID, DemoSpec, write_demo_data
    from tasks.monitoring import evaluate_score_dates, write_drift
    from tasks.registry import ensure_result_tables
    from tasks.warehouse import warehouse_for_url

    reset_schema(SCHEMA)
    try:
        with warehouse_for_url(PG_URL, SCHEMA) as warehouse:
            summary = write_demo_data(warehouse, DemoSpec(EMPLOYEES, 8, 7, END_MONTH))
            ensure_result_tables(warehouse)
            ids = np.arange(FIRST_EMPLOYEE_ID, FIRST_EMPLOYEE_ID + EMPLOYEES, dtype=np.int64)
            for day in SCORE_DATES:
                warehouse.replace_partition(
                    "condition_scores", "score_date", day, _scores(day, ids).to_batches(200_000)
                )
            settle(SCHEMA)
            psi = {f"feature_{i}": 0.01 * i for i in range(16)}
            runs: dict[str, list[float]] = {"evaluate": [], "drift": []}
            auc: dict = {}
            for _ in range(REPEATS):
                started = time.perf_counter()
                evaluation = evaluate_score_dates(warehouse, list(SCORE_DATES))
                runs["evaluate"].append(round(time.perf_counter() - started, 3))
                auc = {d.isoformat(): v for d, v in evaluation.auc.items()}
                started = time.perf_counter()
                write_drift(warehouse, SCORE_DATES[-1], "m20260801T020000-bench", psi)
                runs["drift"].append(round(time.perf_counter() - started, 3))
    finally:
        reset_schema(SCHEMA)
    # random risks: the realized AUC must be about 0.5, else the labels or the join are off
    assert len(auc) == len(SCORE_DATES) and all(abs(v - 0.5) < 0.02 for v in auc.values()), auc
    return {
        "employees": EMPLOYEES,
        "survey_rows": summary.survey_rows,
        "score_rows": EMPLOYEES * len(SCORE_DATES),
        "score_dates": [d.isoformat() for d in SCORE_DATES],
        "auc_of_random_scores": auc,
        "runs_s": runs,
        "median_s": {name: statistics.median(values) for name, values in runs.items()},
    }


if __name__ == "__main__":
    print(json.dumps(run()))
