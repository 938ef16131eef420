"""The training-memory estimate and its `pulsewatch doctor` warning."""

from pathlib import Path

import pandas as pd
import pytest

from tasks.capacity import HEADROOM, rows_that_fit, task_memory_mib, training_peak_mib
from tasks.demo_data import write_demo_data
from tasks.doctor import training_memory_check
from tasks.features import TrainingWindow
from tasks.settings import get_settings
from tests.conftest import SCORE_DATE, SMALL_DEMO

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]


def _window_rows(duck) -> int:
    window = TrainingWindow.ending(SCORE_DATE, 18)
    with duck.engine.connect() as conn:
        months = pd.read_sql_query(
            f"SELECT survey_month FROM {duck.qualified('survey_responses')}", conn
        )["survey_month"]
    months = pd.to_datetime(months).dt.date
    return int(((months >= window.first_month) & (months <= window.last_month)).sum())


def test_doctor_warns_when_training_would_not_fit(duck):
    write_demo_data(duck, SMALL_DEMO)
    rows = _window_rows(duck)
    assert rows > 5_000
    small = training_memory_check(get_settings(), (400, "test limit"), SCORE_DATE)
    assert (small.ok, small.required) == (False, False)
    assert small.detail.startswith(f"{rows:,} survey rows in the 18 training months need ~0.4 GiB")
    assert small.detail.endswith("test limit: 0.4 GiB")
    assert "Size guide" in small.fix
    assert training_memory_check(get_settings(), (8192, "prefect.yaml"), SCORE_DATE).ok


def test_rows_that_fit_stay_within_the_headroom():
    for mib in (1024, 2048, 8192, 16384):
        rows = rows_that_fit(mib)
        assert training_peak_mib(rows) <= mib * HEADROOM < training_peak_mib(rows + 100_000)
    assert rows_that_fit(256) == 0


def test_task_memory_from_the_container_limit_or_prefect_yaml(tmp_path):
    assert task_memory_mib(REPO, limits=()) == (8192, "prefect.yaml pipeline")
    unlimited, limited = tmp_path / "v2", tmp_path / "v1"
    unlimited.write_text("max\n")
    limited.write_text(f"{4 * 2**30}\n")
    assert task_memory_mib(REPO, limits=(unlimited,)) == (8192, "prefect.yaml pipeline")
    assert task_memory_mib(REPO, limits=(unlimited, limited)) == (
        4096,
        f"container limit ({limited})",
    )
    assert task_memory_mib(tmp_path, limits=()) is None
