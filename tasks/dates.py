"""Calendar rules shared by extraction, training and the flows."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from tasks.errors import PulsewatchError

DEFAULT_TIMEZONE = "Asia/Tokyo"  # the nightly deployment's schedule timezone


def add_months(month: date, months: int) -> date:
    """First day of the month `months` after `month`'s month."""
    return (pd.Timestamp(month.replace(day=1)) + pd.DateOffset(months=months)).date()


def feature_month_for(score_date: date) -> date:
    """The last complete survey month before `score_date`."""
    return add_months(score_date.replace(day=1), -1)


def business_today(timezone: str = DEFAULT_TIMEZONE) -> date:
    """Today where the business is: a 02:00 JST run on a UTC container is still 'today'."""
    return datetime.now(ZoneInfo(timezone)).date()


def parse_date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PulsewatchError(f"{option}: {value!r} is not a date (expected YYYY-MM-DD)") from None


def date_range(start: date, end: date) -> list[date]:
    if end < start:
        raise PulsewatchError(f"backfill: end {end} is before start {start}")
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


def resolve_date(value: date | None) -> date:
    """A flow's date parameter, defaulting to today in the business timezone."""
    return value if value is not None else business_today()
