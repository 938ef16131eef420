"""The "look" command the run summary prints: from any directory, while a run writes the
DuckDB file, with rounded risk scores."""

from __future__ import annotations

import shlex
import subprocess
import sys
from datetime import date

import duckdb
import pytest

from cli.summary import look_command
from tasks.reporting import ScoringReport

pytestmark = pytest.mark.unit
DAY = date(2026, 11, 29)
WRITER = """
import sys, time, duckdb
conn = duckdb.connect(sys.argv[1])
conn.execute("INSERT INTO condition_scores VALUES (DATE '2026-11-29', 2, 0.987654321)")
print("holding", flush=True)
sys.stdin.readline()  # until the test lets go
conn.close()
"""


def _report(where: str) -> ScoringReport:
    stats = {"mean": 0.5, "p90": 0.9, "high_risk": 1}
    return ScoringReport(DAY, "m1", 0.8, 2, stats, "main.condition_scores", where)


@pytest.mark.cli
def test_look_works_from_anywhere_while_a_run_writes(tmp_path, monkeypatch):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        conn.execute(
            "CREATE TABLE condition_scores (score_date DATE, employee_id BIGINT, risk_score DOUBLE)"
        )
        conn.execute("INSERT INTO condition_scores VALUES (DATE '2026-11-29', 1, 0.123456789)")
    monkeypatch.chdir(tmp_path)  # the run's directory: the URL's path is relative to it
    command = look_command(_report("duckdb:w.duckdb schema main"))
    assert str(tmp_path / "w.duckdb") in command  # absolute

    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path / "w.duckdb")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "holding"
        # what the old hint did: a read-only connection fails while the writer holds the file
        with pytest.raises(duckdb.IOException, match="lock"):
            duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
        look = subprocess.Popen(
            shlex.split(command),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd="/",
        )
        # the look found the file locked and waits (instead of failing) ...
        waiting = look.stderr.readline()
        assert waiting.strip() == (
            f"pulsewatch look: {tmp_path / 'w.duckdb'} is being written; waiting for it"
        )
        assert look.poll() is None
        writer.stdin.write("done\n")  # ... until the run lets go of the file
        writer.stdin.flush()
        out, err = look.communicate(timeout=120)
    finally:
        if writer.poll() is None:
            writer.stdin.close()
        writer.wait(timeout=60)
    assert look.returncode == 0, waiting + err
    lines = out.splitlines()
    rows = [line for line in lines if "0.988" in line or "0.123" in line]
    assert len(rows) == 2 and "0.988" in rows[0]  # the writer's row too, highest first
    assert "0.9876" not in out and "0.1234" not in out  # rounded


@pytest.mark.cli
def test_look_refuses_a_table_that_is_not_an_identifier(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "cli.look", str(tmp_path / "w.duckdb"), "x;drop", "2026-11-29"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "pulsewatch look: table must match ^[A-Za-z_][A-Za-z0-9_]*$ (got 'x;drop')"
    )


def test_other_warehouses_get_the_rounded_query():
    query = look_command(_report("postgresql:db/x schema pw"))
    assert query.startswith("SELECT employee_id, ROUND(risk_score, 3) AS risk FROM ")
    assert "WHERE score_date = DATE '2026-11-29' ORDER BY risk_score DESC" in query
