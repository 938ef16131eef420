"""tasks/capacity.py: the training-memory estimate (its `pulsewatch doctor` warning: test_doctor.py)."""

from pathlib import Path

import pytest

from tasks.capacity import HEADROOM, rows_that_fit, task_memory_mib, training_peak_mib

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]


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
