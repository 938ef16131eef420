"""Every statement the Redshift path sends passes the Redshift lint (tests/support/redshift_lint.py);
each rule fires on a statement that breaks it; PostgreSQL-only SQL never reaches Redshift."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tasks.warehouse import load_sql, warehouse_for_url
from tasks.warehouse.redshift_io import unload_sql
from tests.support.redshift_lint import (
    ROLE,
    lint,
    postgresql_only,
    redshift_statements,
    sql_names,
)

pytestmark = pytest.mark.unit

# UNLOADed queries whose ORDER BY the reader would need (redshift_io.RedshiftIO.stream reads
# the files in key order, which is not the query's order): until the reader sorts after
# reading, each is listed here with what depends on the order. A new ORDER BY in an UNLOADed
# query fails the test below; so does one removed without updating this list.
UNLOAD_ORDER_RELIED_ON = {
    # row order of the LightGBM training data: same rows in another order can give another
    # model (bin sampling, float sums) -> training on Redshift is not reproducible
    "UNLOAD training_frame",
    # _raise_first reports failures.iloc[0]: which failed check the error names
    "UNLOAD source_checks",
}
# Shared CTE bodies, rendered inside training_frame and feature_snapshot_insert.
FRAGMENTS = {"monthly", "features", "current_features", "labelled_rows", "source_failures"}


@pytest.fixture(scope="module")
def statements() -> dict[str, str]:
    return redshift_statements()


def test_every_statement_the_redshift_path_sends_passes_the_lint(statements):
    findings = {label: list(lint(sql)) for label, sql in statements.items()}
    problems = {
        label: [str(f) for f in found if f.rule != "unload-order-by"]
        for label, found in findings.items()
    }
    assert {label: found for label, found in problems.items() if found} == {}
    ordered = {
        label
        for label, found in findings.items()
        if any(f.rule == "unload-order-by" for f in found)
    }
    assert ordered == UNLOAD_ORDER_RELIED_ON


def test_the_rendering_covers_every_sql_file(statements):
    rendered = {label.removeprefix("UNLOAD ").split("[")[0] for label in statements}
    pg_only = {name for name in sql_names() if postgresql_only(name)}
    assert pg_only == {"postgres_parallel_read", "postgres_partition_lock", "postgres_lock_timeout"}
    assert set(sql_names()) - pg_only - FRAGMENTS <= rendered
    assert FRAGMENTS.isdisjoint(rendered)


def test_postgresql_only_statements_never_reach_redshift(statements):
    pg = warehouse_for_url("postgresql+psycopg2://u:p@host:5432/db", "pulsewatch")
    pg_only = [pg.sql(name) for name in sql_names() if postgresql_only(name)]
    # the lint would refuse them (so the marking is not what keeps them from Redshift) ...
    for sql in pg_only:
        assert {f.rule for f in lint(sql)} == {"unsupported-function"}, sql
    # ... and none of them is in what the Redshift path sends
    sent = "\n".join(statements.values())
    for sql in pg_only:
        body = "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
        assert body.strip() not in sent
    for fn in ("set_config", "current_setting", "pg_advisory", "hashtext"):
        assert fn not in sent
    pg.close()


class Recorder:
    """The SQLAlchemy connection's place: records what would be sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def execute(self, clause, params=None):
        self.sent.append(str(clause))


def test_partition_locks_per_dialect():
    """The PostgreSQL warehouse sends the advisory lock of postgres_partition_lock.sql (marked
    PostgreSQL-only); the Redshift warehouse sends a LOCK, which passes the lint."""
    sent = {}
    for url in ("postgresql+psycopg2://u:p@h/db", "redshift+psycopg2://u:p@h:5439/db"):
        with warehouse_for_url(url, "pulsewatch") as warehouse:
            conn = Recorder()
            warehouse._lock(conn, "feature_snapshots", "2026-10-01")  # type: ignore[arg-type]
            sent[warehouse.kind] = conn.sent
    assert sent["postgresql"] == [
        load_sql("postgres_lock_timeout"),
        load_sql("postgres_partition_lock"),
    ]
    assert "pg_advisory_xact_lock(hashtext(:key))" in sent["postgresql"][1]
    assert sent["redshift"] == [
        "SET statement_timeout TO 300000",
        "LOCK pulsewatch.feature_snapshots",
        "SET statement_timeout TO DEFAULT",
    ]
    assert all(lint(statement) == [] for statement in sent["redshift"])


# -- each rule fires on a statement that breaks it, and not on its fix -----------------------------
BAD_AND_GOOD = {
    "interval-month-year": (
        "SELECT 1 FROM e WHERE e.left_on < e.feature_month + INTERVAL '2 month'",
        "SELECT 1 FROM e WHERE e.left_on < e.feature_month + INTERVAL '2 days'",
    ),
    "aggregate-filter": (
        "SELECT COUNT(*) FILTER (WHERE s.work_score > 10) FROM s",
        "SELECT COUNT(CASE WHEN s.work_score > 10 THEN 1 END) FROM s",
    ),
    "window-range-frame": (
        "SELECT SUM(x) OVER (PARTITION BY e ORDER BY m RANGE BETWEEN UNBOUNDED PRECEDING "
        "AND CURRENT ROW) FROM t",
        "SELECT SUM(x) OVER (PARTITION BY e ORDER BY m ROWS BETWEEN UNBOUNDED PRECEDING "
        "AND CURRENT ROW) FROM t",
    ),
    "window-frame-required": (
        "SELECT AVG(x) OVER (PARTITION BY e ORDER BY m) FROM t",
        "SELECT AVG(x) OVER (PARTITION BY e ORDER BY m ROWS 2 PRECEDING), "
        "LAG(x, 1) OVER (PARTITION BY e ORDER BY m), ROW_NUMBER() OVER (ORDER BY m) FROM t",
    ),
    "window-distinct": (
        "SELECT COUNT(DISTINCT x) OVER (PARTITION BY e) FROM t",
        "SELECT COUNT(x) OVER (PARTITION BY e) FROM t",
    ),
    "unsupported-function": (
        "SELECT m FROM generate_series(1, 12) AS m",
        "SELECT DATE_PART('month', m) FROM t",
    ),
    "postgres-syntax": (
        "SELECT DISTINCT ON (e) e, m FROM t",
        "SELECT DISTINCT e, m FROM t",
    ),
    "parse": ("SELECT FROM WHERE (", "SELECT 1"),
}


@pytest.mark.parametrize("rule", sorted(BAD_AND_GOOD))
def test_rule_fires_on_a_bad_statement(rule):
    bad, good = BAD_AND_GOOD[rule]
    assert rule in {f.rule for f in lint(bad)}, bad
    assert lint(good) == [], good


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT pg_advisory_xact_lock(hashtext('k'))",
        "SELECT set_config('parallel_tuple_cost', '0.01', true)",
        "SELECT current_setting('max_parallel_workers_per_gather')",
        "SELECT SUBSTR(department, 1, 3) FROM employees",
    ],
)
def test_postgresql_and_leader_node_functions_fire(sql):
    assert {f.rule for f in lint(sql)} == {"unsupported-function"}


def test_unload_rules_open_the_quoted_query():
    uri = "s3://b/unload/"
    limited = unload_sql("SELECT employee_id FROM employees LIMIT 10", uri, ROLE)
    assert [f.rule for f in lint(limited)] == ["unload-outer-limit"]
    nested = unload_sql("SELECT s.* FROM (SELECT e FROM t LIMIT 10) AS s", uri, ROLE)
    assert lint(nested) == []
    ordered = unload_sql("SELECT e FROM t ORDER BY e", uri, ROLE)
    assert [f.rule for f in lint(ordered)] == ["unload-order-by"]
    assert lint(ordered.replace("FORMAT AS PARQUET", "FORMAT AS PARQUET PARALLEL OFF")) == []
    # a quote inside the UNLOAD's string is doubled; the lint reads the query Redshift reads
    quoted = unload_sql("SELECT 'a' AS k, x + INTERVAL '1 year' FROM t", uri, ROLE)
    assert [f.rule for f in lint(quoted)] == ["interval-month-year"]


def test_literal_binds_are_what_the_driver_sends():
    """The rendered statements carry values, not placeholders (psycopg2 fills them in)."""
    statements = redshift_statements()
    assert "'2026-10-01'" in statements["feature_snapshot_read"]
    assert ":feature_month" not in statements["feature_snapshot_read"]
    engine = sa.create_engine("redshift+psycopg2://u:p@h:5439/db")
    assert engine.dialect.name == "redshift"
    engine.dispose()
