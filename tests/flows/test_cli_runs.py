"""`pulsewatch run` as a user types it, against the session's Prefect server."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL

pytestmark = pytest.mark.flow
CLI = str(Path(sys.executable).with_name("pulsewatch"))


def pulsewatch(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.long
def test_run_prints_a_summary_and_reruns_idempotently():
    demo = pulsewatch(
        "demo-data", "--employees", "800", "--months", "14", "--end-month", "2026-10-01"
    )
    assert demo.returncode == 0, demo.stderr
    first = pulsewatch("run", "--date", "2026-11-20")
    assert first.returncode == 0, first.stderr[-2000:]
    lines = first.stdout.splitlines()
    assert lines[0].startswith("trained   m") and "validation AUC 0." in lines[0]
    assert lines[1].startswith("decision  champion")
    scored = next(line for line in lines if line.startswith("scored"))
    assert "active employees for 2026-11-20" in scored
    assert any(line.startswith("results   condition_scores in duckdb:") for line in lines)
    look = next(line for line in lines if line.startswith("look"))
    query = subprocess.run(  # pasted as printed, from another directory
        look.removeprefix("look").strip(), shell=True, capture_output=True, text=True, cwd="/"
    )
    assert query.returncode == 0, query.stderr
    risks = re.findall(r"│\s+\d+\s+│\s+(\d\.\d+)\s+│", query.stdout)
    assert len(risks) == 10 and all(len(r) <= 5 for r in risks)  # rounded to 3 decimals

    second = pulsewatch("run", "--date", "2026-11-20")
    assert second.returncode == 0
    assert "is fresh; no training" in second.stdout
    assert scored.split(" with ")[0] in second.stdout  # same number of rows


def test_missing_source_table_is_one_line_without_traceback():
    result = pulsewatch("run", "--date", "2026-11-20")
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("pulsewatch: source table employees is missing in duckdb:")
    )
    assert "Traceback" not in result.stderr
    assert not Path("work").exists() or not any(Path("work").iterdir())
