"""The Prefect UI in a real browser (Debian's chromium via playwright): the scheduled nightly
run's page and its artifacts show the score date, the model's AUC, the rows scored and the run
link. One test, slow (a prefect server, a process worker, three runs): `make ui-check` runs
the same code and keeps the screenshots."""

import os
from pathlib import Path

import pytest

from tests.ui.check import CHROMIUM, run_ui_check

pytestmark = pytest.mark.integration


@pytest.fixture
def chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is required in CI (.ci/run installs it with apt-get)")
        pytest.skip(f"no {CHROMIUM}: apt-get install chromium (make ui-check installs it)")


@pytest.mark.timeout(900)
@pytest.mark.long
def test_the_scheduled_run_tells_what_happened_in_the_browser(chromium, tmp_path, tmp_path_factory):
    check = run_ui_check(tmp_path / "shots", basetemp=tmp_path_factory.getbasetemp())
    assert check.score_date is not None
    day = check.score_date.isoformat()
    rows, auc = check.stored_rows, check.stored_auc
    assert rows > 300  # 600 demo employees, some left or not yet hired

    run_page = check.texts["run"]
    assert f"nightly-{day}" in run_page  # the run's name carries its date
    result = check.texts["nightly-result"]
    assert f"Nightly result for {day}" in result
    assert f"validation AUC {auc:.4f}" in result
    assert f"employees scored\t{rows:,}" in result or f"employees scored {rows:,}" in result
    assert f"/runs/flow-run/{check.run_id}" in result  # the run link
    history = check.texts["nightly-history"]
    assert day in history and f"{rows:,}" in history and f"{auc:.4f}" in history
    assert "Failed" in history
    assert "1 failed" in check.texts["score-date-status"]
    assert "values outside 0-10" in check.texts["failed-run"]
    assert sorted(p.name for p in (tmp_path / "shots").glob("*.png")) == sorted(
        f"{name}.png" for name in check.texts
    )
