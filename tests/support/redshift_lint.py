"""A lint of the SQL pulsewatch sends to Amazon Redshift, against Redshift's documented rules.

No Redshift runs in the test suite (the Redshift path is exercised on PostgreSQL, which accepts
everything below), so the statements the Redshift path sends are rendered exactly as it sends
them (`redshift_statements`) and parsed with sqlglot's `redshift` dialect; each rule below
names the Redshift documentation page it enforces. sqlglot parses; the rules are hand-written
because no maintained linter knows Redshift's restrictions (sqlfluff's redshift dialect parses
the syntax but has no rule for, e.g., window frames or month intervals on columns).

PostgreSQL-only statements (the `-- dialect: postgresql-only` header of a tasks/sql file, and
the inline statements listed in POSTGRESQL_ONLY_STATEMENTS) must never reach Redshift.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from typing import Any

import sqlalchemy as sa
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError
from sqlglot.tokens import TokenType

POSTGRESQL_ONLY_HEADER = "-- dialect: postgresql-only"
# Statements written inline in tasks/warehouse (not .sql files) that only PostgreSQL gets.

URL = "redshift+psycopg2://u:p@host:5439/db"  # engine creation does not connect
SCHEMA = "pulsewatch"
STAGING = "s3://pulsewatch-lint/staging"
ROLE = "arn:aws:iam::123456789012:role/pulsewatch-redshift"
DAY = date(2026, 11, 20)


@dataclass(frozen=True)
class Finding:
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.detail}"


# -- what is sent --------------------------------------------------------------------------------
def sql_names() -> list[str]:
    """Every tasks/sql/*.sql, by name."""
    folder = resources.files("tasks").joinpath("sql")
    return sorted(p.name.removesuffix(".sql") for p in folder.iterdir() if p.name.endswith(".sql"))


def postgresql_only(name: str) -> bool:
    text = resources.files("tasks").joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")
    return text.lstrip().startswith(POSTGRESQL_ONLY_HEADER)


def sent_as(sql: str, params: dict[str, Any], dialect: sa.Dialect) -> str:
    """A statement with its binds filled in as the driver fills them (psycopg2 interpolates
    parameters client-side: the server receives literal SQL). Binds the statement does not
    name are left out, as Warehouse.execute_script leaves them out."""
    named = sa.text(sql)._bindparams
    binds = []
    for name, value in params.items():
        if name not in named:
            continue
        kind: sa.types.TypeEngine = (
            sa.DateTime()
            if isinstance(value, datetime)
            else sa.Date()
            if isinstance(value, date)
            else sa.Float()
            if isinstance(value, float)
            else sa.Integer()
            if isinstance(value, int)
            else sa.String()
        )
        binds.append(sa.bindparam(name, value, type_=kind))
    statement = sa.text(sql).bindparams(*binds)
    return str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def redshift_statements() -> dict[str, str]:
    """Every statement the Redshift path sends, rendered as sent, by a label naming its origin.

    The one place that knows how the Redshift path is put together: reads go through UNLOAD
    (redshift_io.RedshiftWarehouse._stream), small queries and DDL through the engine, writes
    through COPY into a temp table (RedshiftWarehouse._append_partition). The inline statements of replace_partition,
    lock_partition, analyze, ensure_schema and table_exists are written out as those build them.
    """
    from tasks.dates import TrainingWindow, feature_params, scoring_params
    from tasks.feature_store import snapshot_build_sql
    from tasks.features import feature_sql
    from tasks.registry import HISTORY_COLUMNS, REGISTRY_COLUMNS, RegistryEntry
    from tasks.source_checks import SourceWindow, profile_fragments
    from tasks.warehouse import split_statements, warehouse_for_url
    from tasks.warehouse.core import literal_sql
    from tasks.warehouse.redshift_io import copy_sql, unload_sql

    wh = warehouse_for_url(URL, SCHEMA, s3_staging=STAGING, iam_role=ROLE)
    dialect = wh.engine.dialect
    uri = f"{STAGING}/unload/0/"
    source = SourceWindow.for_scoring(DAY)
    col = wh.quote
    reads: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
        "training_frame": (TrainingWindow.ending(DAY, 12).params(), feature_sql(wh)),
        "scoring_frame": (scoring_params(DAY), {}),
        "scored_dates": ({"start_date": DAY, "end_date": DAY}, {}),
        "score_history": ({"start_date": DAY, "end_date": DAY}, {}),
        "score_distribution": ({"score_date": DAY}, {}),
        "registry_history": ({}, {}),
        "source_profile": (source.params(DAY), profile_fragments(wh)),
        "source_checks": (source.params(DAY), {"failures": wh.sql("source_failures")}),
        "source_duplicates": (source.bounds(), {}),
        "staging_probe": ({}, {}),  # doctor
        "source_sample": (
            {},
            {
                "columns": ", ".join(col(c) for c in ("employee_id", "left_on")),
                "source": wh.qualified("employees"),
                "not_null": f"{col('left_on')} IS NOT NULL",
                "limit": "1000",
            },
        ),
    }
    out = {
        f"UNLOAD {name}": unload_sql(literal_sql(wh.sql(name, **frags), params, dialect), uri, ROLE)
        for name, (params, frags) in reads.items()
    }
    month = scoring_params(DAY)["feature_month"]
    entry = RegistryEntry(
        "m1", datetime(2026, 11, 20, 3), DAY, 10, 0.7, "{}", "s3://b/m1", "0" * 64, "champion", "r"
    )
    small: dict[str, dict[str, Any]] = {
        "feature_snapshot_read": {"feature_month": month},
        "feature_snapshot_count": {"feature_month": month},
        "feature_snapshot_record": {
            "feature_month": month,
            "source_fingerprint": "sql:0|0",
            "n_employees": 1,
            "built_at": datetime(2026, 11, 20, 3),
            "flow_run_id": "r",
        },
        "training_rows": {"first_month": month, "last_month": month},  # doctor
        "registry_champions": {},
        "source_issues_delete": {"flow_run_id": "r"},
        "registry_retire_champion": {"retired_at": datetime(2026, 11, 20, 3), "replaced_by": "m2"},
        "registry_insert": dict(entry.__dict__),
        "registry_model_for_date": {"score_date": DAY},
        "registry_list": {},
        "registry_get": {"model_version": "m1"},
        "registry_set_status": dict(entry.__dict__),
        "registry_backfill_promoted": {},
    }
    registry = {"registry_columns": REGISTRY_COLUMNS}
    out |= {
        name: sent_as(wh.sql(name, **registry), params, dialect) for name, params in small.items()
    }
    for column, column_type in HISTORY_COLUMNS.items():
        out[f"registry_add_column[{column}]"] = sent_as(
            wh.sql("registry_add_column", column=column, column_type=column_type), {}, dialect
        )
    out["feature_snapshot_insert"] = sent_as(snapshot_build_sql(wh), feature_params(month), dialect)
    out["scoring_count"] = sent_as(
        wh.sql("scoring_count", scoring_frame=wh.sql("scoring_frame")), scoring_params(DAY), dialect
    )
    out["latest_view_drop"] = sent_as(wh.sql("latest_view_drop"), {}, dialect)
    out |= monitoring_statements(wh)
    out["source_issues_insert"] = sent_as(
        wh.sql("source_issues_insert", failures=wh.sql("source_failures")),
        {**source.params(DAY), "flow_run_id": "r"},
        dialect,
    )
    scripts = ("create_result_tables", "create_source_tables", "clear_source_tables")
    scripts += ("feature_snapshot_delete", "feature_snapshot_clear", "source_issues_create")
    for name in scripts:
        for n, statement in enumerate(split_statements(wh.sql(name))):
            out[f"{name}[{n}]"] = sent_as(statement, {"feature_month": month}, dialect)
    target, stage = wh.qualified("condition_scores"), wh.quote("pw_stage_0123456789ab")
    reasons = wh.qualified("score_reasons")
    for name in ("partition_delete", "partition_count"):
        sql = wh.partition_sql(name, "condition_scores", "score_date")
        out[name] = sent_as(sql, {"value": DAY}, dialect)
    out |= {
        "replace_partition LOCK": f"LOCK {target}",
        "replace_partition CREATE TEMP TABLE": f"CREATE TEMP TABLE {stage} (LIKE {target})",
        "replace_partition COPY": copy_sql(stage, f"{STAGING}/load/x/", ROLE),
        "replace_partition INSERT": f"INSERT INTO {target} SELECT * FROM {stage}",
        "replace_partition DROP": f"DROP TABLE {stage}",
        # score_reasons: replaced in the same transaction as condition_scores (load_scores)
        "replace_partitions LOCK score_reasons": f"LOCK {reasons}",
        "replace_partitions CREATE TEMP TABLE score_reasons": (
            f"CREATE TEMP TABLE {stage} (LIKE {reasons})"
        ),
        "replace_partitions INSERT score_reasons": f"INSERT INTO {reasons} SELECT * FROM {stage}",
        "replace_partitions partition_delete score_reasons": sent_as(
            wh.partition_sql("partition_delete", "score_reasons", "score_date"),
            {"value": DAY},
            dialect,
        ),
        "replace_partitions partition_count score_reasons": sent_as(
            wh.partition_sql("partition_count", "score_reasons", "score_date"),
            {"value": DAY},
            dialect,
        ),
        "staging_probe_table": wh.sql("staging_probe_table", stage=stage),  # doctor
        "staging_probe_count": wh.sql("staging_probe_count", stage=stage),
        "staging_probe_drop": wh.sql("staging_probe_drop", stage=stage),
        "doctor COPY": copy_sql(stage, f"{STAGING}/load/doctor/x/", ROLE),
        "lock_partition SET statement_timeout": "SET statement_timeout TO 300000",
        "lock_partition SET statement_timeout TO DEFAULT": "SET statement_timeout TO DEFAULT",
        "lock_partition": f"LOCK {wh.qualified('feature_snapshots')}",
        "analyze": f"ANALYZE {wh.qualified('employee_features')}",
        "ensure_schema": f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
        "table_exists": f"SELECT 1 FROM {wh.qualified('employees')} WHERE 1 = 0",
    }
    wh.close()
    return out


def monitoring_statements(wh: Any) -> dict[str, str]:
    """What tasks/monitoring.py sends: small queries and the in-warehouse INSERT … SELECT of the
    realized metrics (through the engine), model_drift through replace_partition (above)."""
    from tasks.dates import label_window
    from tasks.features import feature_sql

    dialect = wh.engine.dialect
    bounds = {"first_score_date": date(2026, 10, 1), "last_score_date": date(2026, 10, 31)}
    insert = {**label_window(date(2026, 9, 1)).params(), **bounds}
    insert["computed_at"] = datetime(2026, 11, 20, 3)
    return {
        "model_performance_pending": sent_as(wh.sql("model_performance_pending"), bounds, dialect),
        "model_performance_read": sent_as(wh.sql("model_performance_read"), bounds, dialect),
        "model_performance_delete": sent_as(wh.sql("model_performance_delete"), bounds, dialect),
        "model_performance_insert": sent_as(
            wh.sql("model_performance_insert", **feature_sql(wh)), insert, dialect
        ),
        "lock_partition model_performance": f"LOCK {wh.qualified('model_performance')}",
    } | health_statements(wh)


def health_statements(wh: Any) -> dict[str, str]:
    """What tasks/health.py reads through the engine (health_breaches is written through
    replace_partition, above)."""
    dialect = wh.engine.dialect
    night = {"first_score_date": date(2026, 7, 23), "score_date": date(2026, 11, 20)}
    return {
        "health_auc_history": sent_as(wh.sql("health_auc_history"), night, dialect),
        "health_drift_history": sent_as(
            wh.sql("health_drift_history"), {**night, "model_version": "m1"}, dialect
        ),
        "health_breaches_read": sent_as(wh.sql("health_breaches_read"), night, dialect),
        "health_breaches_previous": sent_as(wh.sql("health_breaches_previous"), night, dialect),
    }


# -- the rules -----------------------------------------------------------------------------------
# Each rule's documentation (Amazon Redshift Database Developer Guide, docs.aws.amazon.com/
# redshift/latest/dg/<page>) is named where it is checked.

UNLOAD = re.compile(r"^\s*UNLOAD\s*\(\s*'((?:[^']|'')*)'\s*\)\s*TO\s+'[^']*'(?P<options>.*)$", re.S)
MONTH_OR_YEAR = re.compile(
    r"\b(y|yrs?|years?|mons?|months?|qtrs?|quarters?|decades?|century|centuries|millenni(a|um|ums))\b",
    re.I,
)
# Window functions without a frame clause (ranking and offset functions): c_Window_functions.html
# lists the frame_clause only for the aggregate ones (and FIRST_VALUE/LAST_VALUE/NTH_VALUE).
FRAMELESS = (
    exp.RowNumber,
    exp.Rank,
    exp.DenseRank,
    exp.Ntile,
    exp.PercentRank,
    exp.CumeDist,
    exp.Lag,
    exp.Lead,
)
# PostgreSQL functions Redshift does not have (c_unsupported-postgresql-functions.html), the
# leader-node-only functions that fail on user tables (c_SQL_functions_leader_node_only.html),
# and SET_CONFIG/CURRENT_SETTING: Redshift documents them (r_SET_CONFIG.html) for its own
# configuration parameters only; pulsewatch uses them for PostgreSQL planner settings, which
# must never reach Redshift. Matched as written (a name before "("), since sqlglot renames some
# (SUBSTR -> SUBSTRING, NOW -> CURRENT_TIMESTAMP, STRING_AGG -> GROUP_CONCAT).
FORBIDDEN_FUNCTIONS = {
    # unsupported PostgreSQL functions
    "generate_series",
    "generate_subscripts",
    "string_agg",
    "array_agg",
    "every",
    "corr",
    "clock_timestamp",
    "transaction_timestamp",
    "pg_sleep",
    "justify_days",
    "justify_hours",
    "justify_interval",
    "div",
    "setseed",
    "width_bucket",
    "hashtext",
    # leader-node only
    "current_schema",
    "current_schemas",
    "has_database_privilege",
    "has_schema_privilege",
    "has_table_privilege",
    "substr",
    "factorial",
    "age",
    "now",
    "isfinite",
    # PostgreSQL configuration calls
    "set_config",
    "current_setting",
}
FORBIDDEN_PREFIXES = ("pg_advisory_", "pg_try_advisory_")  # advisory lock functions


def lint(sql: str) -> list[Finding]:
    """Findings for one statement as sent to Redshift (empty: nothing known to be wrong)."""
    unload = UNLOAD.match(sql)
    if unload:
        return lint_unload(unload.group(1).replace("''", "'"), unload.group("options"))
    return lint_statement(sql)


def lint_unload(query: str, options: str) -> list[Finding]:
    findings = lint_statement(query)
    try:
        tree = sqlglot.parse_one(query, read="redshift")
    except ParseError:
        return findings
    # t_Unloading_tables.html / r_UNLOAD.html: "any select statement ... except for a select
    # that uses a LIMIT clause in the outer select" (a LIMIT in a subquery is fine).
    if tree.args.get("limit") is not None:
        findings.append(Finding("unload-outer-limit", "LIMIT in the outer SELECT of an UNLOAD"))
    # r_UNLOAD.html, PARALLEL: by default UNLOAD writes files in parallel, one or more per
    # slice; only with PARALLEL OFF is the output "sorted absolutely according to the ORDER BY
    # clause". An ORDER BY in a parallel UNLOAD orders nothing the reader can rely on.
    parallel_off = re.search(r"\bPARALLEL\s+(OFF|FALSE)\b", options, re.I)
    if tree.args.get("order") is not None and not parallel_off:
        findings.append(
            Finding(
                "unload-order-by",
                "ORDER BY in a parallel UNLOAD is no ordering guarantee: the files are written "
                "per slice; sort after reading",
            )
        )
    return findings


def lint_statement(sql: str) -> list[Finding]:
    if re.match(r"^\s*LOCK\s", sql, re.I):  # r_LOCK.html; sqlglot keeps it as a Command
        return []
    try:
        trees = [t for t in sqlglot.parse(sql, read="redshift") if t is not None]
    except ParseError as error:
        return [Finding("parse", f"sqlglot's redshift dialect cannot parse it: {error}")]
    findings = _forbidden_functions(sql)
    for tree in trees:
        if isinstance(tree, exp.Command):
            findings.append(Finding("parse", f"unparsed {tree.name} statement"))
            continue
        findings += _intervals(tree) + _aggregates(tree) + _windows(tree) + _postgres_syntax(tree)
    return findings


def _forbidden_functions(sql: str) -> list[Finding]:
    tokens = sqlglot.tokenize(sql, read="redshift")
    found = []
    for token, following in itertools.pairwise(tokens):
        name = token.text.lower()
        if following.token_type != TokenType.L_PAREN or token.token_type == TokenType.STRING:
            continue
        if name in FORBIDDEN_FUNCTIONS or name.startswith(FORBIDDEN_PREFIXES):
            found.append(Finding("unsupported-function", f"{name}() is not available on Redshift"))
    return found


def _intervals(tree: exp.Expression) -> list[Finding]:
    """r_interval_literals.html: the unqualified interval literals added to datetime columns are
    seconds to weeks; a month or year part added to a column fails on the compute nodes with
    "Interval values with month or year parts are not supported" (reported e.g. in
    lightdash/lightdash#21104, 2026). Month arithmetic is done on month numbers instead."""
    found = []
    for interval in tree.find_all(exp.Interval):
        text = " ".join(str(p.name) for p in (interval.this, interval.args.get("unit")) if p)
        arithmetic = interval.parent
        if not MONTH_OR_YEAR.search(text) or not isinstance(arithmetic, exp.Add | exp.Sub):
            continue
        other = arithmetic.expression if arithmetic.this is interval else arithmetic.this
        if other.find(exp.Column) is not None:
            found.append(
                Finding(
                    "interval-month-year",
                    f"{arithmetic.sql(dialect='redshift')}: month/year interval on a column",
                )
            )
    return found


def _aggregates(tree: exp.Expression) -> list[Finding]:
    """c_Aggregate_Functions.html: Redshift's aggregate syntax has no FILTER clause (the
    PostgreSQL `agg(...) FILTER (WHERE ...)`); write `agg(CASE WHEN ... THEN x END)`."""
    return [
        Finding("aggregate-filter", f"{node.sql(dialect='redshift')}: FILTER on an aggregate")
        for node in tree.find_all(exp.Filter)
    ]


def _windows(tree: exp.Expression) -> list[Finding]:
    found = []
    for window in tree.find_all(exp.Window):
        spec = window.args.get("spec")
        text = window.sql(dialect="redshift")
        kind = str(spec.args.get("kind") or "").upper() if spec else ""
        # c_Window_functions.html (window function syntax summary): frame_clause is ROWS only.
        if kind and kind != "ROWS":
            found.append(Finding("window-range-frame", f"{text}: {kind} frame (ROWS only)"))
        # r_WF_AVG.html, r_WF_COUNT.html, ...: "If an ORDER BY clause is used for an aggregate
        # function, an explicit frame clause is required."
        ordered = window.args.get("order") is not None
        if ordered and not kind and not isinstance(window.this, FRAMELESS):
            found.append(Finding("window-frame-required", f"{text}: ORDER BY without a ROWS frame"))
        # r_WF_COUNT.html (and r_WF_SUM.html ...): "DISTINCT is not supported" in a window.
        if window.this.find(exp.Distinct) is not None:
            found.append(Finding("window-distinct", f"{text}: DISTINCT in a window aggregate"))
    return found


def _postgres_syntax(tree: exp.Expression) -> list[Finding]:
    """PostgreSQL-only syntax: SELECT DISTINCT ON (r_SELECT_list.html has DISTINCT only),
    INSERT ... ON CONFLICT / RETURNING (r_INSERT_30.html has neither)."""
    found = []
    for distinct in tree.find_all(exp.Distinct):
        if distinct.args.get("on") is not None:
            found.append(Finding("postgres-syntax", "SELECT DISTINCT ON"))
    for insert in tree.find_all(exp.Insert):
        if insert.args.get("conflict") is not None:
            found.append(Finding("postgres-syntax", "INSERT ... ON CONFLICT"))
        if insert.args.get("returning") is not None:
            found.append(Finding("postgres-syntax", "INSERT ... RETURNING"))
    return found
