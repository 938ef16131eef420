"""Issue 15 item 7: the work dir holds employee scores; they must not stay there, readable by
others, after a failure, and a full disk must say so in one line."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from tasks.errors import ConfigError
from tasks.work_dir import clear_stale, prepare
from tests.support.flow_checks import risk_by_employee

CLI = str(Path(sys.executable).with_name("pulsewatch"))
DAY = date(2026, 11, 20)
NEXT_DAY = date(2026, 11, 21)


def _work_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.unit
def test_stale_work_files_are_cleared_and_nothing_else(tmp_path):
    work = tmp_path / "work"
    prepare(work)
    assert stat.S_IMODE(work.stat().st_mode) == 0o700
    old = time.time() - 2 * 86_400
    for name in ("scores-2026-11-01-run.parquet", "notes.txt"):
        (work / name).write_bytes(b"x")
        os.utime(work / name, (old, old))
    (work / "training-abc").mkdir()
    (work / "training-abc" / "chunk.npy").write_bytes(b"x")
    os.utime(work / "training-abc", (old, old))
    (work / "scores-2026-11-20-fresh.parquet").write_bytes(b"x")  # a concurrent run's
    removed = clear_stale(work)
    assert sorted(p.name for p in removed) == ["scores-2026-11-01-run.parquet", "training-abc"]
    assert _work_files(work) == ["notes.txt", "scores-2026-11-20-fresh.parquet"]


@pytest.mark.unit
def test_a_work_dir_that_is_a_file_is_one_line(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    for path in (target, target / "below"):
        with pytest.raises(ConfigError, match=r"^PULSEWATCH_WORK_DIR: .* is not a directory"):
            prepare(path)


@pytest.mark.flow
def test_scores_file_is_private_and_gone_after_a_failed_load(demo_duck, prefect_api, monkeypatch):
    """The score file is 0600 while it exists; a load that fails for good removes it, and the
    previous date's scores stay."""
    import tasks.prefect_tasks.results as load_task  # where the load-scores task calls it
    from flows.nightly import nightly_pipeline  # here: the unit tests of this file need no Prefect
    from flows.score import score_population

    work = Path(os.environ["PULSEWATCH_WORK_DIR"])
    nightly_pipeline(score_date=DAY)
    before = risk_by_employee(demo_duck, DAY)
    modes = []
    real_load = load_task.load_scores

    def observe(warehouse, scores):  # records what is on disk, then loads for real
        modes.append(stat.S_IMODE(Path(scores.path).stat().st_mode))
        return real_load(warehouse, scores)

    monkeypatch.setattr(load_task, "load_scores", observe)
    # condition_scores replaced by one that refuses NEXT_DAY's rows (the result tables and the
    # view over them are still valid): the load fails for good, DAY's rows are kept
    table = demo_duck.qualified("condition_scores")
    with demo_duck.engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE kept AS SELECT * FROM {table}"))
        conn.execute(sa.text(f"DROP TABLE {table}"))
        conn.execute(
            sa.text(
                f"CREATE TABLE {table} (score_date DATE NOT NULL CHECK (score_date <> DATE "
                f"'{NEXT_DAY}'), employee_id BIGINT NOT NULL, risk_score DOUBLE PRECISION NOT "
                "NULL, model_version VARCHAR(64) NOT NULL, flow_run_id VARCHAR(64), scored_at "
                "TIMESTAMP NOT NULL, PRIMARY KEY (score_date, employee_id))"
            )
        )
        conn.execute(sa.text(f"INSERT INTO {table} SELECT * FROM kept"))
    demo_duck.close()
    with pytest.raises(Exception, match="CHECK constraint"):
        score_population(score_date=NEXT_DAY)
    assert modes == [0o600]
    assert stat.S_IMODE(work.stat().st_mode) == 0o700
    assert [n for n in _work_files(work) if n.startswith("scores-")] == []
    assert risk_by_employee(demo_duck, DAY) == before


@pytest.mark.unit
def test_a_failure_while_scoring_removes_the_partial_file(tmp_path, demo_duck):
    from tasks.feature_store import prepare_features, stream_scoring_frames
    from tasks.features import TrainingWindow, extract_training_frame
    from tasks.registry import ensure_result_tables
    from tasks.scoring import score_to_file
    from tasks.training import TrainingConfig, fit_model

    ensure_result_tables(demo_duck)
    prepare_features(demo_duck, DAY)
    frame = extract_training_frame(demo_duck, TrainingWindow.ending(DAY, 10))
    model = fit_model(frame, TrainingConfig(num_boost_round=5), DAY)

    def frames_then_a_lost_connection():
        yield from stream_scoring_frames(demo_duck, DAY, 100)  # several chunks written...
        raise ConnectionError("server closed the connection unexpectedly")

    path = tmp_path / "work" / "scores-2026-11-20-run.parquet"
    with pytest.raises(ConnectionError):
        score_to_file(frames_then_a_lost_connection(), model, "m1", DAY, "run", path)
    assert not path.exists()
    done = score_to_file(stream_scoring_frames(demo_duck, DAY, 100), model, "m1", DAY, "r", path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(pd.read_parquet(done.path)) == done.rows > 0


def _unshare_available() -> str | None:
    if shutil.which("unshare") is None:
        return "no unshare(1)"
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=4k tmpfs /mnt"],
        capture_output=True,
        text=True,
    )
    return None if probe.returncode == 0 else f"cannot mount a tmpfs: {probe.stderr.strip()}"


# Inside a private mount namespace: a 4 KiB tmpfs on the work dir, two scoring runs (the
# second must fail the same way: the first left nothing behind), then what is left there.
ON_TINY_TMPFS = """
mount -t tmpfs -o size=4k,mode=0700 tmpfs "$WORK" || exit 99
for attempt in 1 2; do "$CLI" score --date 2026-11-21; echo "exit=$?"; done
echo "left:"; ls -A "$WORK"
"""


@pytest.mark.flow
@pytest.mark.long
def test_a_full_work_dir_is_one_line_and_leaves_nothing(demo_duck, prefect_api, tmp_path):
    """ENOSPC for real: a tiny tmpfs mounted on PULSEWATCH_WORK_DIR (in a user and mount
    namespace, no root needed where user namespaces are allowed)."""
    from prefect.settings import PREFECT_API_URL

    from flows.nightly import nightly_pipeline

    problem = _unshare_available()
    if problem:
        pytest.skip(problem)
    nightly_pipeline(score_date=DAY)
    demo_duck.close()
    work = tmp_path / "tiny-work"
    work.mkdir()
    env = {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "PULSEWATCH_WORK_DIR": str(work),
        "WORK": str(work),
        "CLI": CLI,
    }
    env.pop("PULSEWATCH_DEBUG", None)
    result = subprocess.run(
        ["unshare", "-rm", "sh", "-c", ON_TINY_TMPFS],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    out = result.stdout.splitlines()
    assert out == ["exit=2", "exit=2", "left:"], result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("pulsewatch:")]
    assert (
        errors
        == [
            f"pulsewatch: PULSEWATCH_WORK_DIR is full ({work}): free space there or point "
            "PULSEWATCH_WORK_DIR at a larger disk"
        ]
        * 2
    )
    assert "Errno 28" not in result.stderr
