"""Will a training run fit the task's memory? An estimate from measurement.

`pulsewatch train` on PostgreSQL (tasks/training_data.py: batches spilled to the work dir,
LightGBM's Dataset built from the spill) peaked at BASE_MIB plus MIB_PER_MILLION_ROWS for each
million labelled rows (population x training months); see README "Size guide". The rest of the
run (Prefect, drivers, LightGBM's own buffers) does not grow with the population.
"""

from __future__ import annotations

from pathlib import Path

import yaml

# Measured: peak RSS of `pulsewatch train` at 20k, 200k and 1M employees x 24 months
# (0.29M, 2.9M and 14.8M rows: 465, 600 and 1,353 MiB), fitted as base + slope; rounded up.
BASE_MIB = 460
MIB_PER_MILLION_ROWS = 62
# Headroom kept free of the estimate: the kernel, page cache of the spill, measurement noise.
HEADROOM = 0.8
CGROUP_LIMITS = (
    Path("/sys/fs/cgroup/memory.max"),  # cgroup v2
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),  # cgroup v1 (Fargate platform 1.4)
)


def training_peak_mib(rows: int) -> float:
    """Estimated peak RSS of a training run over `rows` labelled rows."""
    return BASE_MIB + MIB_PER_MILLION_ROWS * rows / 1e6


def rows_that_fit(memory_mib: int) -> int:
    """The most labelled rows a task with `memory_mib` trains within its headroom."""
    return max(0, int((memory_mib * HEADROOM - BASE_MIB) / MIB_PER_MILLION_ROWS * 1e6))


def task_memory_mib(
    project_dir: Path = Path(), limits: tuple[Path, ...] = CGROUP_LIMITS
) -> tuple[int, str] | None:
    """The memory this run may use and where that number comes from: the container's cgroup
    limit when there is one (on ECS, the task size), else the `pipeline` size in the project's
    prefect.yaml (what `make deploy` will give the task)."""
    for limit in limits:
        try:
            text = limit.read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**50:  # "max" or a huge number: no limit
            return int(text) // 2**20, f"container limit ({limit})"
    path = project_dir / "prefect.yaml"
    try:
        document = yaml.safe_load(path.read_text())
        return int(document["definitions"]["sizes"]["pipeline"]["memory"]), "prefect.yaml pipeline"
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError):
        return None
