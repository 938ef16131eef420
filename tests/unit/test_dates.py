from datetime import date

import pytest

from tasks.dates import add_months, date_range, feature_month_for, parse_date
from tasks.errors import PulsewatchError
from tasks.features import TrainingWindow

pytestmark = pytest.mark.unit


def test_feature_month_is_last_complete_month():
    assert feature_month_for(date(2026, 11, 29)) == date(2026, 10, 1)
    assert feature_month_for(date(2026, 1, 1)) == date(2025, 12, 1)


def test_training_window_labels_are_known_at_cutoff():
    window = TrainingWindow.ending(date(2026, 11, 29), training_months=18)
    assert window.data_end_month == date(2026, 10, 1)  # last survey read
    assert window.last_month == date(2026, 9, 1)  # its label is October
    assert window.first_month == date(2025, 4, 1)
    assert window.data_start_month == date(2024, 10, 1)  # 6 months of history
    assert add_months(window.first_month, 17) == window.last_month


def test_bad_dates_are_one_line_errors():
    with pytest.raises(PulsewatchError, match=r"^--date: '2026-13-01' is not a date"):
        parse_date("2026-13-01", "--date")
    with pytest.raises(PulsewatchError, match="end 2026-01-01 is before start 2026-02-01"):
        date_range(date(2026, 2, 1), date(2026, 1, 1))
    assert len(date_range(date(2026, 2, 27), date(2026, 3, 2))) == 4
