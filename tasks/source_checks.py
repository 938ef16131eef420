"""Source-data contract: checks of the warehouse's source tables before a run writes anything.

Runs right after the source tables are found, on the months the run is about to read:
- column types (a score stored as text, a month stored as a string);
- scores outside 0-10, NULL keys, duplicate (employee_id, survey_month) or employee rows;
- survey months in the future (after both the run's date and today: a backfill of a past date
  legitimately sees later months, a row dated after today is always wrong);
- an empty month: every month from the first month with data in the window up to the last
  month the run reads must have rows (a missing load would otherwise score everyone on NULL
  features, silently).
A violation raises DataContractError with one line naming the table, the column and one
offending key (employee_id and month), never a whole row of personal data. The checks are
aggregate SQL (tasks/sql/source_profile.sql, source_checks.sql, source_duplicates.sql) plus
a small typed sample per column (source_sample.sql); no row data leaves the warehouse beyond
those samples' keys.
"""

from __future__ import annotations

import hashlib
import numbers
import statistics
from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd

from tasks.dates import (
    TrainingWindow,
    add_months,
    business_today,
    months_between,
    scoring_history,
)
from tasks.errors import DataContractError
from tasks.source_issues import (
    KeyedContractError,
    current_run_id,
    example,
    issues_recorded,
    record_source_failures,
    where_to_look,
)
from tasks.warehouse import Warehouse, friendly_errors

# table -> column -> expected kind ("integer", "number", "date", "text")
SOURCE_COLUMNS: dict[str, dict[str, str]] = {
    "employees": {
        "employee_id": "integer",
        "department": "text",
        "hired_on": "date",
        "left_on": "date",
    },
    "survey_responses": {
        "employee_id": "integer",
        "survey_month": "date",
        "work_score": "number",
        "relationship_score": "number",
        "health_score": "number",
    },
}
SAMPLE_ROWS = 1000
# A month whose share of answered rows falls below this fraction of the median share of the
# window's months before it is refused (a load that kept the rows but lost the answers).
MIN_ANSWERED_RATIO = 0.5
PROBLEMS = {
    "range": "values outside 0-10",
    "null": "NULL values",
    "future": "survey months in the future (after {horizon})",
    "not_month_start": "months that are not the first day of a month",
    "duplicate": "duplicate keys",
    "time_of_day": "values with a time of day (dates expected)",
}


@dataclass(frozen=True)
class SourceWindow:
    """The survey months a run reads (the calendar's windows, tasks/dates.py), and the date it
    runs for."""

    first_month: date
    last_month: date
    as_of: date
    # every month must have rows (a scoring window: the features read all of its months);
    # a training window may start before the history does (its early feature months then
    # see a shorter past, like new hires)
    full_history: bool = False

    @classmethod
    def for_scoring(cls, score_date: date) -> SourceWindow:
        first_month, last_month = scoring_history(score_date)
        return cls(first_month, last_month, score_date, full_history=True)

    @classmethod
    def for_training(cls, train_end_date: date, training_months: int) -> SourceWindow:
        window = TrainingWindow.ending(train_end_date, training_months)
        return cls(window.data_start_month, window.data_end_month, train_end_date)

    def horizon(self, today: date | None = None) -> date:
        """Latest plausible survey month: neither after the run's date nor after today."""
        return max(self.as_of, today or business_today())

    def bounds(self) -> dict[str, date]:
        """Bound values of the window: its first month and the first month after it (the
        checks read [data_start_month, data_end_next), so a last-month row with a time of day
        or another day is inside the window and refused, not silently left out)."""
        return {
            "data_start_month": self.first_month,
            "data_end_next": add_months(self.last_month, 1),
        }

    def params(self, today: date | None = None) -> dict[str, date]:
        """The bounds and the horizon: the bound values of the source checks."""
        return {**self.bounds(), "horizon": self.horizon(today)}

    def months(self) -> list[date]:
        return months_between(self.first_month, self.last_month)


def _key(employee_id: object, month: object = None) -> str:
    employee = "NULL" if employee_id is None or pd.isna(employee_id) else _plain(employee_id)
    text = f"employee_id={employee}"
    if month is not None and not (isinstance(month, float) and pd.isna(month)):
        text += f", month={_plain(month)}"
    return text


def _plain(value: object) -> str:
    if isinstance(value, datetime | pd.Timestamp):
        stamp = pd.Timestamp(value)
        return stamp.date().isoformat() if stamp == stamp.normalize() else str(stamp)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, numbers.Integral | float) and float(value).is_integer():
        return str(int(value))
    return repr(value) if isinstance(value, str) else str(value)


def _kind_ok(kind: str, values: pd.Series) -> pd.Series:
    """Per value: does it have the expected kind? (values are non-null)"""
    if kind == "date":
        if pd.api.types.is_datetime64_any_dtype(values):
            return pd.Series(True, index=values.index)
        return values.map(lambda v: isinstance(v, date))
    if kind == "text":
        return values.map(lambda v: isinstance(v, str))
    if pd.api.types.is_bool_dtype(values):
        return pd.Series(False, index=values.index)
    if kind == "integer" and pd.api.types.is_integer_dtype(values):
        return pd.Series(True, index=values.index)
    if kind == "number" and pd.api.types.is_numeric_dtype(values):
        return pd.Series(True, index=values.index)

    def number(v: object) -> bool:
        if isinstance(v, bool) or not isinstance(v, numbers.Number):
            return False
        return kind == "number" or float(v).is_integer()  # type: ignore[arg-type]

    return values.map(number)


def check_column_types(warehouse: Warehouse) -> None:
    """Sample each source column's non-NULL values and check their kind: one sample per table,
    and a sample of a column alone only where the table's sample holds no value of it."""
    for table, columns in SOURCE_COLUMNS.items():
        keys = ["employee_id"] + (["survey_month"] if table == "survey_responses" else [])
        sample = _sample(warehouse, table, [*keys, *columns], "1 = 1")
        for column, kind in columns.items():
            frame = sample[sample[column].notna()]
            if frame.empty:  # e.g. left_on: mostly NULL
                not_null = f"{warehouse.quote(column)} IS NOT NULL"
                frame = _sample(warehouse, table, [*keys, column], not_null)
            if frame.empty:
                continue
            ok = _kind_ok(kind, frame[column])
            if not ok.all():
                bad_rows = frame.loc[~ok]
                bad = bad_rows.iloc[0]
                found = type(bad[column]).__name__
                month = bad.get("survey_month")
                # a month of the wrong type is no month to name
                shown_month = month if isinstance(month, date | pd.Timestamp) else None
                key_text = _key(bad["employee_id"], month)
                raise KeyedContractError(
                    f"{table}.{column}: expected {kind} values, found {found} "
                    f"({example(bad['employee_id'], shown_month, key_text=key_text)}); "
                    "the run stopped before writing anything",
                    table=table,
                    column=column,
                    problem="type",
                    keys=[
                        (e, m if isinstance(m, date | pd.Timestamp) else None)
                        for e, m in zip(
                            bad_rows["employee_id"],
                            bad_rows.get("survey_month", pd.Series(None, index=bad_rows.index)),
                            strict=True,
                        )
                    ],
                )


def _sample(warehouse: Warehouse, table: str, columns: list[str], where: str) -> pd.DataFrame:
    """Up to SAMPLE_ROWS rows of `columns` (source_sample.sql)."""
    return warehouse.read(
        "source_sample",
        {},
        columns=", ".join(warehouse.quote(c) for c in dict.fromkeys(columns)),
        source=warehouse.qualified(table),
        not_null=where,
        limit=str(SAMPLE_ROWS),
    )


def profile_source(
    warehouse: Warehouse, window: SourceWindow, today: date | None = None
) -> pd.DataFrame:
    """One query, one pass over the window's rows (tasks/sql/source_profile.sql): per survey
    month of the window, a count per source check, the rows, and the fingerprint's parts."""
    return warehouse.read("source_profile", window.params(today), **profile_fragments(warehouse))


def profile_fragments(warehouse: Warehouse) -> dict[str, str]:
    """source_profile.sql's dialect part: answered_at in microseconds since 1970."""
    return {"answered_us": warehouse.epoch_microseconds("r.answered_at")}


# profile columns counted over the whole table (the same value on every row of a profile)
_WHOLE_TABLE = (
    "employee_id_null",
    "survey_month_null",
    "survey_month_future",
    "employees_duplicate",
    "employees_employee_id_null",
    "employees_hired_on_null",
    "employees_hired_on_time_of_day",
    "employees_left_on_time_of_day",
    "survey_duplicate_keys",  # the window's duplicate (employee, month) keys, an upper bound
)
_PER_MONTH = (
    "work_score_range",
    "relationship_score_range",
    "health_score_range",
    "survey_month_not_month_start",
    "survey_month_time_of_day",
)


def _total(values: pd.Series) -> int:
    return sum(int(v) for v in values if v is not None and not pd.isna(v))


def problem_count(profile: pd.DataFrame) -> int:
    """How many source-check violations the profile counted (0: clean)."""
    first = profile.iloc[0]
    return sum(int(first[c]) for c in _WHOLE_TABLE) + sum(_total(profile[c]) for c in _PER_MONTH)


def fingerprint_of(profile: pd.DataFrame) -> str:
    """The window's fingerprint: a digest of every month's `fp_*` parts (rows, answered rows,
    the two row-hash sums), month by month in month order. Kept per month, not added up across
    months, so a row moved from one month to another changes both months' parts."""
    rows = profile[profile["fp_rows"].notna()]
    months = sorted(
        ":".join(
            [str(pd.Timestamp(row["survey_month"])), *(str(int(row[c])) for c in _FINGERPRINT)]
        )
        for _, row in rows.iterrows()
    )
    text = ";".join(months)
    return "md5sum:" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:40]


_FINGERPRINT = ("fp_rows", "fp_answered", "fp_hash_a", "fp_hash_b")


def check_values(
    warehouse: Warehouse,
    window: SourceWindow,
    profile: pd.DataFrame,
    today: date | None = None,
) -> None:
    """Ranges, NULL keys, future months, times of day, duplicate employees and duplicate
    (employee, month) keys, all counted in `profile` every night; the offending keys are looked
    up (source_checks.sql, source_duplicates.sql) only when a count is not zero."""
    if problem_count(profile):
        params = window.params(today)
        failures = warehouse.read(
            "source_checks", params, failures=warehouse.sql("source_failures")
        )
        _raise_first(warehouse, failures, params)


def check_duplicate_keys(warehouse: Warehouse, window: SourceWindow) -> None:
    """No (employee_id, survey_month) twice inside the window, with the first such key (a
    GROUP BY over every key: run when the profile counted a duplicate, and before a feature
    snapshot is rebuilt)."""
    failures = warehouse.read("source_duplicates", window.bounds())
    _raise_first(warehouse, failures, window.params())


def _raise_first(warehouse: Warehouse, failures: pd.DataFrame, params: dict[str, date]) -> None:
    """Record every offending key in source_issues and raise the first failure: its table,
    column, count and month (and the key itself only if keys are shown)."""
    if failures.empty:
        return
    # sorted here by the query's ORDER BY keys: Redshift's parallel UNLOAD does not keep it
    row = failures.sort_values(["table_name", "column_name", "problem"], kind="stable").iloc[0]
    run_id = current_run_id()
    record_source_failures(warehouse, params, run_id)
    problem = PROBLEMS.get(str(row["problem"]), str(row["problem"]))
    key_text = _key(row["employee_id"], row["survey_month"])
    raise DataContractError(
        f"{row['table_name']}.{row['column_name']}: {int(row['bad_rows'])} "
        f"{problem.format(horizon=params['horizon'])} "
        f"({example(row['employee_id'], row['survey_month'], key_text=key_text)}); "
        f"{where_to_look(warehouse, run_id)}; the run stopped before writing anything"
    )


def check_months(window: SourceWindow, profile: pd.DataFrame) -> None:
    """No empty month between the first month with data in the window and its last month; and
    for a scoring window, none before it either (features computed from fewer months than they
    are defined over would skew the scores silently)."""
    rows = profile[profile["fp_rows"].notna()]
    present = {
        pd.Timestamp(month).date()
        for month, n in zip(rows["survey_month"], rows["fp_rows"], strict=True)
        if int(n)
    }
    span = f"{window.first_month:%Y-%m}..{window.last_month:%Y-%m}"
    if not present:
        raise DataContractError(
            f"survey_responses.survey_month: no rows at all for months {span}; "
            "the run stopped before writing anything"
        )
    if window.full_history and min(present) > window.first_month:
        needed = window.months()
        have = sum(1 for m in needed if m in present)
        raise DataContractError(
            f"survey_responses.survey_month: the features of {window.last_month:%Y-%m} read "
            f"the {len(needed)} months {span}, but survey rows start at {min(present):%Y-%m} "
            f"({have} of {len(needed)} months): too little history to score "
            f"{window.as_of.isoformat()}; the run stopped before writing anything"
        )
    expected = [m for m in window.months() if m >= min(present)]
    missing = [m for m in expected if m not in present]
    if missing:
        raise DataContractError(
            f"survey_responses.survey_month: {len(missing)} empty month(s) inside {span} "
            f"(e.g. month={missing[0].isoformat()} has no rows); "
            "the run stopped before writing anything"
        )


def check_answered(
    window: SourceWindow, profile: pd.DataFrame, min_answered_ratio: float = MIN_ANSWERED_RATIO
) -> None:
    """No month whose share of answered rows (any score not NULL) collapses: below
    `min_answered_ratio` times the median share of the window's months before it, or no answer
    at all. Counting rows alone let a month of NULL answers through, scored as if nobody had
    answered (mean risk 0.43 instead of 0.11 on the demo data)."""
    rows = profile[profile["fp_rows"].notna()]
    shares = sorted(
        (pd.Timestamp(month).date(), int(answered), int(n))
        for month, answered, n in zip(
            rows["survey_month"], rows["fp_answered"], rows["fp_rows"], strict=True
        )
        if int(n)
    )
    before: list[float] = []
    for month, answered, n in shares:
        share = answered / n
        floor = min_answered_ratio * statistics.median(before) if before else 0.0
        if answered == 0 or share < floor:
            against = (
                f", against a median {statistics.median(before):.0%} in the {len(before)} "
                f"month(s) before it (min_answered_ratio {min_answered_ratio})"
                if before
                else ""
            )
            raise DataContractError(
                f"survey_responses.work_score, relationship_score, health_score: month "
                f"{month:%Y-%m} has answers on {answered} of {n} rows ({share:.0%}){against}; "
                "the run stopped before writing anything"
            )
        before.append(share)


def check_source_data(
    warehouse: Warehouse,
    window: SourceWindow,
    today: date | None = None,
    *,
    min_answered_ratio: float = MIN_ANSWERED_RATIO,
) -> str:
    """The whole source contract; raises DataContractError on the first violation. Returns
    the fingerprint of the window's survey rows (tasks/feature_store.py keeps it)."""
    with friendly_errors("check source data"), issues_recorded(warehouse):
        check_column_types(warehouse)
        profile = profile_source(warehouse, window, today)
        check_values(warehouse, window, profile, today)
        check_months(window, profile)
        check_answered(window, profile, min_answered_ratio)
    return fingerprint_of(profile)
