"""The local work dir (PULSEWATCH_WORK_DIR): scratch files that hold row data between steps
(the night's scores before they are loaded, the spilled training frame).

They hold employee ids and scores, so they are private to the process's user (files 0600 in a
directory created 0700), removed as soon as their step fails or is done with them, and a file
left by a killed process is removed by the next run after a day (STALE_AFTER: a concurrent
run's files are younger). A full disk is one line naming the variable, not an OSError.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from tasks.errors import ConfigError, PulsewatchError

STALE_AFTER_SECONDS = 24 * 3600
# What pulsewatch writes there: score files (tasks/scoring.py) and training spills
# (tasks/training_data.py). Nothing else in the directory is touched.
WORK_FILES = ("scores-*.parquet", "training-*")
_FULL = (errno.ENOSPC, errno.EDQUOT)


class WorkDirFullError(PulsewatchError):
    """No space left in PULSEWATCH_WORK_DIR."""


def is_disk_full(error: BaseException) -> bool:
    """ENOSPC / EDQUOT, also when a library (pyarrow) re-raises it without the errno."""
    if isinstance(error, OSError) and error.errno in _FULL:
        return True
    return isinstance(error, OSError) and "No space left on device" in str(error)


def prepare(path: str | Path) -> Path:
    """The work dir, created 0700 if missing (an existing one keeps its mode: it may be
    shared, like /tmp), with stale work files cleared. A path that is a file is a ConfigError."""
    folder = Path(path)
    not_a_folder = f"PULSEWATCH_WORK_DIR: {folder} is not a directory (point it at a folder)"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise ConfigError(not_a_folder) from None
    except OSError as error:
        if is_disk_full(error):
            raise WorkDirFullError(full_message(folder)) from None
        problem = f"PULSEWATCH_WORK_DIR: cannot create {folder} ({error.strerror})"
        raise ConfigError(problem) from None
    if not folder.is_dir():
        raise ConfigError(not_a_folder)
    clear_stale(folder)
    return folder


def clear_stale(folder: Path, max_age_seconds: float = STALE_AFTER_SECONDS) -> list[Path]:
    """Remove pulsewatch's work files older than `max_age_seconds`; returns what was removed."""
    cutoff = time.time() - max_age_seconds
    removed = []
    for pattern in WORK_FILES:
        for path in folder.glob(pattern):
            try:
                if path.lstat().st_mtime >= cutoff:
                    continue
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
            except FileNotFoundError:  # another run removed it first
                continue
            removed.append(path)
    return removed


def create_private(path: Path) -> BinaryIO:
    """A new file only this user may read (0600, whatever the umask); refuses to follow a
    symlink or reuse an existing file."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    return os.fdopen(os.open(path, flags, 0o600), "wb")


def full_message(folder: Path) -> str:
    return (
        f"PULSEWATCH_WORK_DIR is full ({folder}): free space there or point PULSEWATCH_WORK_DIR "
        "at a larger disk"
    )


@contextmanager
def removed_on_failure(path: Path) -> Iterator[None]:
    """Remove `path` if the block fails (or the process is interrupted); a full disk becomes
    one line naming PULSEWATCH_WORK_DIR."""
    try:
        yield
    except BaseException as error:
        path.unlink(missing_ok=True)
        if is_disk_full(error):
            raise WorkDirFullError(full_message(path.parent)) from None
        raise
