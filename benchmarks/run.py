"""`make bench`: how demo-data writing and chunked scoring scale with the population.

Each measurement runs in its own Python process so peak memory (VmHWM) is its own.
Results are compared as ratios against the small population measured in the same run
(the machine is shared and noisy), and written to benchmarks/results/<timestamp>.json with
the machine noted.

PULSEWATCH_BENCH_SKIP_REASONS=1 leaves out the cost of reasons (benchmarks/reasons.py: its own
1M-employee data and two scoring nights, one with TreeSHAP); run it alone with
`python -m benchmarks.reasons`.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
END_MONTH = date(2026, 10, 1)
SMALL, LARGE = 20_000, 200_000
CHUNK_ROWS = 10_000  # smaller than both populations, so both stream several chunks
SKIP_REASONS = os.environ.get("PULSEWATCH_BENCH_SKIP_REASONS") == "1"


def _peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux carries ru_maxrss
    over from the parent across fork+exec, VmHWM starts afresh with the new program."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(kind: str, employees: int, folder: str) -> dict:
    """Run one measurement in this (child) process and return its numbers."""
    from tasks.demo_data import DemoSpec, write_demo_data
    from tasks.warehouse import warehouse_for_url

    warehouse = warehouse_for_url(f"duckdb:///{folder}/w-{employees}.duckdb")
    spec = DemoSpec(employees=employees, months=24, seed=7, end_month=END_MONTH)
    if kind == "demo-data":
        started = time.perf_counter()
        summary = write_demo_data(warehouse, spec)
        seconds = time.perf_counter() - started
        rows = summary.survey_rows + summary.employees
    else:
        from tasks.feature_store import prepare_features, stream_scoring_frames
        from tasks.model import PulseModel
        from tasks.registry import ensure_result_tables
        from tasks.scoring import score_to_file

        model = PulseModel.from_bytes(Path(folder, "model.json").read_bytes())
        day = date(2026, 11, 20)
        ensure_result_tables(warehouse)
        started = time.perf_counter()
        prepare_features(warehouse, day)
        result = score_to_file(
            stream_scoring_frames(warehouse, day, CHUNK_ROWS),
            model,
            "bench",
            day,
            None,
            Path(folder) / f"scores-{employees}.parquet",
        )
        seconds = time.perf_counter() - started
        rows = result.rows
    warehouse.close()
    peak_mb = _peak_rss_mb()
    return {
        "kind": kind,
        "employees": employees,
        "rows": rows,
        "seconds": round(seconds, 3),
        "rows_per_s": round(rows / seconds),
        "peak_rss_mb": round(peak_mb, 1),
    }


def _measure(kind: str, employees: int, folder: str) -> dict:
    from benchmarks.postgres_io import run_json

    return run_json(["benchmarks.run", "--child", kind, str(employees), folder])


def _train_model(folder: str) -> None:
    from tasks.features import TrainingWindow, extract_training_frame
    from tasks.training import TrainingConfig, fit_model
    from tasks.warehouse import warehouse_for_url

    with warehouse_for_url(f"duckdb:///{folder}/w-{SMALL}.duckdb") as warehouse:
        frame = extract_training_frame(warehouse, TrainingWindow.ending(date(2026, 11, 20), 18))
    model = fit_model(frame, TrainingConfig(), date(2026, 11, 20))
    Path(folder, "model.json").write_bytes(model.to_bytes())


def _module(name: str) -> dict:
    """Run `python -m name` in its own process; its last line of output is its JSON result."""
    from benchmarks.postgres_io import run_json

    return run_json([name])


def main() -> None:
    results: dict = {
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        },
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "measurements": [],
    }
    with tempfile.TemporaryDirectory() as folder:
        for employees in (SMALL, LARGE):
            results["measurements"].append(_measure("demo-data", employees, folder))
        subprocess.run([sys.executable, "-m", "benchmarks.run", "--train", folder], check=True)
        for employees in (SMALL, LARGE):
            results["measurements"].append(_measure("scoring", employees, folder))
    from benchmarks import postgres_io, reasons

    results["postgres"] = postgres_io.run()
    results["postgres_ratios"] = postgres_io.ratios(results["postgres"])
    if "train_streamed_large" in results["postgres"]:  # PULSEWATCH_BENCH_FULL=1
        results["postgres_ratios"].update(postgres_io.training_ratios(results["postgres"]))
    results["source_profile"] = _module("benchmarks.source_profile")
    results["monitoring"] = _module("benchmarks.monitoring")
    if not SKIP_REASONS:
        results["reasons"] = reasons.run()  # issue 17 item 4
    by = {(m["kind"], m["employees"]): m for m in results["measurements"]}
    results["ratios_large_vs_small"] = {
        kind: {
            "population": LARGE / SMALL,
            "seconds": round(by[kind, LARGE]["seconds"] / by[kind, SMALL]["seconds"], 2),
            "peak_rss": round(by[kind, LARGE]["peak_rss_mb"] / by[kind, SMALL]["peak_rss_mb"], 2),
        }
        for kind in ("demo-data", "scoring")
    }
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(results, indent=2)
    (RESULTS / f"{stamp}.json").write_text(text)
    (RESULTS / "latest.json").write_text(text)
    print(table(results))


# The targets of issues 3 and 15, printed beside the ratios they apply to.
TARGETS = {
    "loader_vs_psql_copy": ">= 1.0",
    "loader_vs_to_sql": ">= 20",
    "reader_vs_read_sql": ">= 5",
    "reader_peak_rss_vs_read_sql": "<= 0.33",
    "score_peak_rss_1m_vs_100k": "<= 1.5",
    "score_flow_vs_floor": "<= 1.5",
    "naive_score_vs_flow": ">= 3",
}


def table(results: dict) -> str:
    """The human summary of one run (also pasted into README.md)."""
    pg = results["postgres"]
    lines = ["| measurement | rows | seconds | rows/s | peak RSS MB |", "|---|---|---|---|---|"]
    labels = {
        "prepare": "feature snapshot of 1M employees (first night of a month)",
        "write_pulsewatch": "write 1M scores: pulsewatch loader (ADBC binary COPY)",
        "write_psql": "write 1M scores: psql \\copy from CSV",
        "write_to_sql": "write 1M scores: pandas to_sql (default method)",
        "read_pulsewatch": "extract scoring frame (snapshot + employees), 1M: pulsewatch reader",
        "read_pulsewatch_serial": "the same reader, the server's default (serial) plan",
        "read_pandas": "extract scoring frame (same query), 1M: pandas read_sql",
        "score_small": "score + load 100k employees (no orchestration)",
        "score_large": "score + load 1M employees (no orchestration = floor)",
        "score_flow_cold": "first night of a month, 1M: score-population flow (builds snapshot)",
        "score_flow": "scoring night, 1M: score-population flow, prefect server",
        "naive_score": "scoring night, 1M: naive read_sql (features from source), predict, "
        "to_sql of the same rows into condition_scores",
        "naive_score_scratch": "the same naive script, to_sql of 3 columns into a scratch table",
        "train_flow": "training night, 100k x 24 months: train-model flow",
        "naive_train": "training night: naive read_sql → lgb.train → predict → to_sql "
        "(condition_scores)",
        "train_streamed_small": "train 100k x 24 months: streamed (spill → LightGBM Sequence)",
        "train_in_memory_small": "train 100k x 24 months: in-memory frame (the former path)",
        "train_streamed_large": "train 1M x 24 months: streamed (spill → LightGBM Sequence)",
    }
    for key, label in labels.items():
        if key not in pg:  # the training measurements: PULSEWATCH_BENCH_FULL=1 only
            continue
        m = pg[key]
        lines.append(
            f"| {label} | {m['rows']:,} | {m['seconds']:.1f} | {m['rows'] / m['seconds']:,.0f} "
            f"| {m.get('peak_rss_mb', 0):,.0f} |"
        )
    profile, monitoring = results["source_profile"], results["monitoring"]
    lines += [
        "",
        f"| nightly step, {profile['employees']:,} employees (PostgreSQL) | rows | seconds "
        "(median) | vs linear profile |",
        "|---|---|---|---|",
    ]
    steps = {
        "profile_linear": "source profile, former linear checksum (cancellable)",
        "profile_md5": "source profile, MD5 row hash (issue 15.1)",
        "profile_before": "source profile before: duplicate count per month",
        "profile": "source profile now: checks + integer-hash fingerprint + duplicate count",
        "duplicate_count": "of which the nightly exact duplicate-key count (packed key)",
        "duplicate_count_grouped": "that count as before (COUNT(DISTINCT) per month)",
        "duplicates": "full duplicate GROUP BY (runs only when the count is not 0)",
    }
    for key, label in steps.items():
        lines.append(
            f"| {label} | {profile['survey_rows']:,} | {profile['median_s'][key]:.2f} "
            f"| {profile['ratio_vs_linear'][key]} |"
        )
    fingerprint = profile["median_s"]["profile"] - profile["median_s"]["duplicate_count"]
    lines.append(
        f"| source profile without the duplicate count (checks + fingerprint) | "
        f"| {fingerprint:.2f} | {fingerprint / profile['median_s']['profile_linear']:.2f} |"
    )
    lines.append(
        f"| monitoring: evaluate {len(monitoring['score_dates'])} past score dates "
        f"({monitoring['score_rows']:,} scores) | {monitoring['survey_rows']:,} "
        f"| {monitoring['median_s']['evaluate']:.1f} | |"
    )
    lines.append(
        f"| monitoring: write tonight's drift rows | | {monitoring['median_s']['drift']:.2f} | |"
    )
    lines += ["", "| ratio | value | target |", "|---|---|---|"]
    lines += [
        f"| {k} | {v} | {TARGETS.get(k, '')} |" for k, v in results["postgres_ratios"].items()
    ]
    for kind, r in results["ratios_large_vs_small"].items():
        lines.append(
            f"| duckdb {kind}: 200k vs 20k employees, time / peak RSS | "
            f"{r['seconds']} / {r['peak_rss']} | |"
        )
    if reasons := results.get("reasons"):  # issue 17 item 4
        for night, key in (("floor", "with_vs_without"), ("scoring night", "flow_with_vs_without")):
            lines.append(
                f"| reasons (top {reasons['top_share']:.0%}), {night}: with / without | "
                f"{reasons[key]} | <= {reasons['target']} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--train":
        _train_model(sys.argv[2])
    elif len(sys.argv) == 5 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2], int(sys.argv[3]), sys.argv[4])))
    else:
        main()
