"""The nightly report's pieces: the warehouse aggregates (DuckDB and PostgreSQL) and the
markdown a person reads in the Prefect UI."""

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from tasks.registry import ensure_result_tables
from tasks.reporting import ScoringReport, TrainingReport
from tasks.run_report import (
    DateAggregate,
    Distribution,
    History,
    ModelRow,
    NightResult,
    NightRun,
    duration_text,
    history_rows,
    model_reason,
    night_markdown,
    read_history,
    status_grid_markdown,
)
from tasks.scoring import ScoreStats

pytestmark = pytest.mark.unit
DAY = date(2026, 11, 20)
# Values on and beside every decile edge, 0.5 and the ends: where SQL and numpy could differ.
EDGES = [0.0, 0.0999, 0.1, 0.2999, 0.3, 0.4999999, 0.5, 0.7, 0.9, 0.9994, 0.9995, 1.0]


def _scores(day: date, risks: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "score_date": [day] * len(risks),
            "employee_id": np.arange(1, len(risks) + 1, dtype=np.int64),
            "risk_score": risks,
            "model_version": "m1",
            "flow_run_id": pd.Series([None] * len(risks), dtype="string"),
            "scored_at": pd.Timestamp("2026-11-20 02:00"),
        }
    )


@pytest.fixture(params=["duck", pytest.param("pg", marks=pytest.mark.integration)])
def warehouse(request):
    return request.getfixturevalue(request.param)


def test_previous_night_deciles_in_sql_equal_the_runs_own_binning(warehouse):
    ensure_result_tables(warehouse)
    earlier = list(np.random.default_rng(3).random(500)) + EDGES
    warehouse.replace_partition(
        "condition_scores",
        "score_date",
        DAY - timedelta(days=3),
        [_scores(DAY - timedelta(days=3), [0.9] * 5)],
    )
    warehouse.replace_partition(
        "condition_scores",
        "score_date",
        DAY - timedelta(days=1),
        [_scores(DAY - timedelta(days=1), earlier)],
    )
    warehouse.replace_partition("condition_scores", "score_date", DAY, [_scores(DAY, [0.1])])
    stats = ScoreStats()
    stats.add(np.array(earlier))
    expected = stats.summary()

    history = read_history(warehouse, DAY)

    previous = history.previous
    assert previous is not None and previous.score_date == DAY - timedelta(days=1)
    assert previous.histogram == expected["histogram"]
    assert previous.high_risk == expected["high_risk"] == sum(r >= 0.5 for r in earlier)
    assert previous.mean_risk == pytest.approx(expected["mean"])
    assert sorted(history.aggregates) == [DAY - timedelta(days=d) for d in (3, 1, 0)]
    night = history.aggregates[DAY - timedelta(days=3)]
    assert (night.rows, night.high_risk, night.model_version) == (5, 5, "m1")
    assert night.mean_risk == pytest.approx(0.9)


def test_the_first_night_has_no_previous(warehouse):
    ensure_result_tables(warehouse)
    warehouse.replace_partition("condition_scores", "score_date", DAY, [_scores(DAY, [0.2])])
    assert read_history(warehouse, DAY).previous is None


def _result(previous: Distribution | None, training: TrainingReport | None) -> NightResult:
    histogram = [9000, 2000, 500, 100, 50, 20, 10, 5, 2, 1]
    scoring = ScoringReport(
        score_date=DAY,
        model_version="m2",
        model_auc=0.8123,
        rows=sum(histogram),
        stats={"mean": 0.1234, "high_risk": 38, "histogram": histogram},
        table="condition_scores",
        where="duckdb:x",
    )
    return NightResult(scoring, training, date(2026, 11, 15), previous, timedelta(seconds=75), None)


def _lines_are_well_formed(markdown: str) -> None:
    for line in markdown.splitlines():
        assert not line.startswith(("- ", "* ", "+ ")), f"renders as a bullet: {line!r}"
        assert not line.replace(" ", "").startswith("|||"), f"empty header row: {line!r}"
        cells = [c.strip() for c in line.strip("|").split("|")] if line.startswith("|") else []
        assert "-" not in cells, f"bare '-' cell: {line!r}"


def test_night_markdown_reads_correctly_with_and_without_a_previous_night():
    previous = Distribution(DAY - timedelta(days=1), [8000] + [0] * 9, 0.05, 0)
    text = night_markdown(_result(previous, None))
    _lines_are_well_formed(text)
    assert "| employees scored | 11,688 |" in text
    assert "| trained tonight | no: champion m2 (cut-off 2026-11-15) is fresh |" in text
    assert "| promotion gate | no candidate tonight; the champion scored |" in text
    assert "| duration | 1m 15s |" in text
    assert "| 0.0 to 0.1 | 9,000 | 77.0% | 8,000 | 100.0% |" in text
    assert "| mean risk | 0.123 | | 0.050 | |" in text

    rejected = TrainingReport("m3", "rejected", 0.61, "m2", 0.81, "AUC 0.6100 below 0.7000", 1, 1)
    alone = night_markdown(_result(None, rejected))
    _lines_are_well_formed(alone)
    assert (
        "| promotion gate | rejected; champion m2 kept scoring: AUC 0.6100 below 0.7000 |" in alone
    )
    assert "| 0.0 to 0.1 | 9,000 | 77.0% | \u2013 | \u2013 |" in alone
    assert "No earlier score date" in alone


def test_history_rows_combine_warehouse_numbers_and_prefect_states():
    history = History(
        aggregates={DAY: DateAggregate(DAY, 12345, 0.1111, 1234, "m2")},
        models=[ModelRow("m2", datetime(2026, 11, 15), DAY, 10, 0.8123, "champion", None)],
    )
    yesterday = DAY - timedelta(days=1)
    runs = {DAY: NightRun("Completed", timedelta(minutes=61)), yesterday: NightRun("Crashed", None)}
    rows = history_rows(DAY, history, runs)
    assert rows == [
        {
            "date": "2026-11-20",
            "model": "m2",
            "AUC": "0.8123",
            "rows": "12,345",
            "mean risk": "0.111",
            ">= 0.5": "1,234",
            "duration": "1h 01m",
            "state": "Completed",
        },
        {
            "date": "2026-11-19",
            "model": "\u2013",
            "AUC": "\u2013",
            "rows": "\u2013",
            "mean risk": "\u2013",
            ">= 0.5": "\u2013",
            "duration": "\u2013",
            "state": "Crashed",
        },
    ]


def test_model_reasons_prefer_the_gates_words_and_fall_back_to_the_registry():
    old = ModelRow("m1", datetime(2026, 10, 1), date(2026, 10, 1), 1, 0.8, "retired", "r1")
    bad = ModelRow("m2", datetime(2026, 10, 8), date(2026, 10, 8), 1, 0.6, "rejected", "r2")
    new = ModelRow("m3", datetime(2026, 10, 15), date(2026, 10, 15), 1, 0.81, "champion", "r3")
    models = [new, bad, old]
    reasons = {"r1": "no champion yet", "r2": "AUC 0.6000 below the floor 0.7000"}
    assert model_reason(old, models, reasons) == "replaced by m3; promoted then: no champion yet"
    assert model_reason(bad, models, reasons) == "AUC 0.6000 below the floor 0.7000"
    assert model_reason(new, models, reasons) == "current champion"
    assert model_reason(bad, models, {}).startswith("rejected by the promotion gate")


def test_status_grid_marks_each_date_in_its_weekday_column():
    history = History(aggregates={DAY: DateAggregate(DAY, 1, 0.1, 0, "m")})
    failed = DAY - timedelta(days=2)  # Wednesday 2026-11-18
    runs = {failed: NightRun("Failed", None, "http://ui/runs/flow-run/abc")}
    grid = status_grid_markdown(DAY, history, runs, dates=14)
    _lines_are_well_formed(grid)
    lines = grid.splitlines()
    assert lines[0] == "# Score dates 2026-11-07 to 2026-11-20"
    assert lines[2].startswith("1 scored, 1 failed, 12 missing (")
    assert lines[6] == "| 2026-11-02 |  |  |  |  |  | 7 \u2013 | 8 \u2013 |"
    assert lines[8] == (
        "| 2026-11-16 | 16 \u2013 | 17 \u2013 | [18 failed](http://ui/runs/flow-run/abc) "
        "| 19 \u2013 | 20 ok |  |  |"
    )


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (59.6, "1m 00s"), (125, "2m 05s"), (3600 * 5 + 61, "5h 01m")]
)
def test_duration_text(seconds, text):
    assert duration_text(timedelta(seconds=seconds)) == text


def test_the_scoring_summary_has_a_header_and_thousands_separators():
    from tasks.reporting import scoring_markdown

    report = _result(None, None).scoring
    stats = {**report.stats, "p50": 0.05, "p90": 0.3, "p99": 0.7}
    text = scoring_markdown(ScoringReport(**{**report.__dict__, "stats": stats}))
    _lines_are_well_formed(text)
    assert "| item | value |" in text
    assert "| employees scored | 11,688 |" in text
    assert "| 0.0 to 0.1 | 9,000 | 77.0% |" in text
