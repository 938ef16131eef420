"""The calendar: every month window of the project is computed here, and only here.

Time rules (no leakage):
- a score date D uses the features of the *feature month* M = first day of D's month minus one
  month: the last survey month that is complete before D;
- the features of month M read the HISTORY_MONTHS survey months ending at M (their history);
- a model trained with cut-off D learns from feature months up to M - 1 month, whose labels
  (what happened in the following month, at the latest M) are all known by D; the training
  frame reads those months' history too.
Other modules ask for the windows (feature_month_for, feature_params, scoring_params,
scoring_history, TrainingWindow) instead of doing month arithmetic themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from tasks.errors import PulsewatchError

DEFAULT_TIMEZONE = "Asia/Tokyo"  # the nightly deployment's schedule timezone
HISTORY_MONTHS = 6  # the longest trailing window in features.sql


def add_months(month: date, months: int) -> date:
    """First day of the month `months` after `month`'s month (plain arithmetic: the CLI imports
    the calendar at start-up, before pandas is needed)."""
    year, index = divmod(month.year * 12 + month.month - 1 + months, 12)
    return date(year, index + 1, 1)


def feature_month_for(score_date: date) -> date:
    """The last complete survey month before `score_date`."""
    return add_months(score_date.replace(day=1), -1)


def months_between(first_month: date, last_month: date) -> list[date]:
    """Every month from `first_month` to `last_month`, both included."""
    out, month = [], first_month
    while month <= last_month:
        out.append(month)
        month = add_months(month, 1)
    return out


def feature_history(feature_month: date) -> tuple[date, date]:
    """First and last survey month the features of `feature_month` read."""
    return add_months(feature_month, -(HISTORY_MONTHS - 1)), feature_month


def scoring_history(score_date: date) -> tuple[date, date]:
    """First and last survey month a scoring run for `score_date` reads."""
    return feature_history(feature_month_for(score_date))


def feature_params(feature_month: date) -> dict[str, date]:
    """Bound values of current_features.sql (with monthly.sql) for one feature month."""
    data_start_month, data_end_month = feature_history(feature_month)
    return {
        "feature_month": feature_month,
        "month_1": add_months(feature_month, -1),
        "month_2": add_months(feature_month, -2),
        "month_3": add_months(feature_month, -3),
        "data_start_month": data_start_month,
        "data_end_month": data_end_month,
    }


def scoring_params(score_date: date) -> dict[str, date]:
    """Bound values of scoring_frame.sql for one score date."""
    return {"score_date": score_date, "feature_month": feature_month_for(score_date)}


@dataclass(frozen=True)
class TrainingWindow:
    first_month: date  # first labelled feature month
    last_month: date  # last labelled feature month
    data_start_month: date  # first survey month read (history for trailing windows)
    data_end_month: date  # last survey month read (labels of last_month)

    @classmethod
    def ending(cls, train_end_date: date, training_months: int) -> TrainingWindow:
        if training_months < 2:
            raise ValueError("training_months must be at least 2")
        data_end = feature_month_for(train_end_date)
        last = add_months(data_end, -1)
        first = add_months(last, -(training_months - 1))
        return cls(first, last, add_months(first, -HISTORY_MONTHS), data_end)

    def params(self) -> dict[str, date]:
        return {
            "first_month": self.first_month,
            "last_month": self.last_month,
            "data_start_month": self.data_start_month,
            "data_end_month": self.data_end_month,
        }


def label_window(feature_month: date) -> TrainingWindow:
    """The one labelled feature month `feature_month` as training_frame.sql reads it: its
    history and the next month, whose survey holds the labels (model_performance_insert.sql)."""
    return TrainingWindow(
        feature_month,
        feature_month,
        add_months(feature_month, -HISTORY_MONTHS),
        add_months(feature_month, 1),
    )


def last_evaluable_score_date(tonight: date) -> date:
    """The last score date whose labels are known tonight: a score date D predicts the month
    after its feature month M, i.e. D's own month, whose survey is complete only once it is
    a feature month itself (feature_month_for(tonight) >= D's month)."""
    return tonight.replace(day=1) - timedelta(days=1)


def business_today(timezone: str = DEFAULT_TIMEZONE) -> date:
    """Today where the business is: a 02:00 JST run on a UTC container is still 'today'."""
    return datetime.now(ZoneInfo(timezone)).date()


# Dates the calendar can compute windows for (pandas timestamps, used by the frames, end in 2262;
# years of history are read before a date): anything else is a typo.
FIRST_DATE, LAST_DATE = date(1900, 1, 1), date(2199, 12, 31)


def check_date_range(value: date, option: str) -> date:
    if not FIRST_DATE <= value <= LAST_DATE:
        raise PulsewatchError(f"{option}: {value} is out of range ({FIRST_DATE}..{LAST_DATE})")
    return value


def parse_date(value: str, option: str) -> date:
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise PulsewatchError(f"{option}: {value!r} is not a date (expected YYYY-MM-DD)") from None
    return check_date_range(parsed, option)


def date_range(start: date, end: date) -> list[date]:
    if end < start:
        raise PulsewatchError(f"backfill: end {end} is before start {start}")
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


def resolve_date(value: date | None) -> date:
    """A flow's date parameter, defaulting to today in the business timezone."""
    return check_date_range(value, "date") if value is not None else business_today()
