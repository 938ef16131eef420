"""What the nightly source profile costs on 1,000,000 employees (PostgreSQL, 6 survey months).

`python -m benchmarks.source_profile` (also a step of `make bench`; runnable alone with
`make bench-profile`). Loads demo data for PULSEWATCH_BENCH_PROFILE_EMPLOYEES (default
1,000,000) x 6 months into its own schema, vacuums it, then times, in interleaved rounds (the
median of REPEATS each):
- `profile_linear`: the profile before the row-hash fingerprint (benchmarks/baseline/), whose
  linear checksum could be cancelled out, and which left duplicate keys to snapshot rebuilds;
- `profile_md5`: the profile of issue 15.1 (benchmarks/baseline/), an MD5 of each row's text,
  its hex slices summed, duplicate keys counted in the same grouped pass;
- `profile_before`: the profile before its duplicate count was packed into one DISTINCT
  (benchmarks/baseline/source_profile_grouped_count.sql: COUNT(DISTINCT) per month);
- `profile`: tasks/sql/source_profile.sql as the nightly check runs it (an integer row hash in
  BIGINT arithmetic, two sums, duplicate keys counted per month in a narrow aggregate);
- `duplicate_count`: the profile's own nightly duplicate-key count (its subquery `d`: one
  DISTINCT over the packed key) alone, so the fingerprint's share is `profile` minus it;
- `duplicate_count_grouped`: the same count as the profile ran it before (COUNT(DISTINCT
  employee_id) grouped by month, which PostgreSQL sorts twice);
- `duplicates`: source_duplicates.sql, the GROUP BY over every key that used to run only when a
  snapshot was rebuilt (now only when the profile counted a duplicate).
Ratios against `profile_linear` are what to read: the machine is shared and noisy.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from datetime import date
from pathlib import Path

from benchmarks.postgres_io import PG_URL, reset_schema, settle

SCHEMA = "pw_bench_profile"
EMPLOYEES = int(os.environ.get("PULSEWATCH_BENCH_PROFILE_EMPLOYEES", "1000000"))
END_MONTH = date(2026, 10, 1)
DAY = date(2026, 11, 20)
REPEATS = 3
BASELINE = Path(__file__).parent / "baseline" / "source_profile_linear.sql"
MD5_BASELINE = Path(__file__).parent / "baseline" / "source_profile_md5.sql"
BEFORE_BASELINE = Path(__file__).parent / "baseline" / "source_profile_grouped_count.sql"
# the MD5 profile's hex slices as PostgreSQL integers (its former hex_to_bigint)
MD5_SLICES = {
    "hash_a": "CAST(CAST('x' || SUBSTRING(h.row_md5, 1, 8) AS BIT(32)) AS BIGINT)",
    "hash_b": "CAST(CAST('x' || SUBSTRING(h.row_md5, 9, 8) AS BIT(32)) AS BIGINT)",
}
# the profile's duplicate count before 2026-12-03: per month, sorted twice on PostgreSQL
GROUPED_COUNT = """
    SELECT s.survey_month,
           COUNT(s.employee_id) - COUNT(DISTINCT s.employee_id) AS survey_duplicate_keys
    FROM {survey_responses} AS s
    WHERE s.survey_month >= CAST(:data_start_month AS DATE)
      AND s.survey_month < CAST(:data_end_next AS DATE)
    GROUP BY s.survey_month
"""


def run() -> dict:
    from tasks.demo_data import DemoSpec, write_demo_data
    from tasks.source_checks import SourceWindow, profile_fragments
    from tasks.warehouse import warehouse_for_url

    reset_schema(SCHEMA)
    window = SourceWindow.for_scoring(DAY)
    with warehouse_for_url(PG_URL, SCHEMA) as warehouse:
        started = time.perf_counter()
        summary = write_demo_data(warehouse, DemoSpec(EMPLOYEES, 6, 7, END_MONTH))
        load_s = time.perf_counter() - started
        settle(SCHEMA)
        names = {t: warehouse.qualified(t) for t in ("employees", "survey_responses")}
        linear_sql = BASELINE.read_text().format_map(names)
        md5_sql = MD5_BASELINE.read_text().format_map({**names, **MD5_SLICES})
        before_sql = BEFORE_BASELINE.read_text().format_map(
            {**names, **profile_fragments(warehouse)}
        )
        linear_params = {
            "data_start_month": window.first_month,
            "data_end_month": window.last_month,
            "horizon": DAY,
        }

        def profile() -> None:
            warehouse.read("source_profile", window.params(DAY), **profile_fragments(warehouse))

        def baseline(sql: str, params: dict) -> None:
            import sqlalchemy as sa

            with warehouse.engine.connect() as conn:
                conn.execute(sa.text(sql), params).fetchall()

        def profile_linear() -> None:
            baseline(linear_sql, linear_params)

        def profile_md5() -> None:
            baseline(md5_sql, window.params(DAY))

        sql = warehouse.sql("source_profile", **profile_fragments(warehouse))
        start = sql.index("CROSS JOIN (\n    SELECT\n        COUNT(s.employee_id)")
        count_sql = sql[start + len("CROSS JOIN (") : sql.index(") AS d\n", start)]
        grouped_sql = GROUPED_COUNT.format_map(names)

        def duplicate_count() -> None:
            baseline(count_sql, window.bounds())

        def duplicate_count_grouped() -> None:
            baseline(grouped_sql, window.bounds())

        def profile_before() -> None:
            baseline(before_sql, window.params(DAY))

        def duplicates() -> None:
            warehouse.read("source_duplicates", window.bounds())

        steps = {
            "profile_linear": profile_linear,
            "profile_md5": profile_md5,
            "profile_before": profile_before,
            "profile": profile,
            "duplicate_count": duplicate_count,
            "duplicate_count_grouped": duplicate_count_grouped,
            "duplicates": duplicates,
        }
        runs: dict[str, list[float]] = {name: [] for name in steps}
        for _ in range(REPEATS):
            for name, step in steps.items():
                started = time.perf_counter()
                step()
                runs[name].append(round(time.perf_counter() - started, 3))
    reset_schema(SCHEMA)
    median = {name: statistics.median(values) for name, values in runs.items()}
    return {
        "employees": EMPLOYEES,
        "survey_rows": summary.survey_rows,
        "load_s": round(load_s, 1),
        "runs_s": runs,
        "median_s": median,
        "ratio_vs_linear": {
            name: round(value / median["profile_linear"], 2) for name, value in median.items()
        },
    }


if __name__ == "__main__":
    print(json.dumps(run()))
