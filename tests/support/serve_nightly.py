"""Serve nightly-pipeline/nightly and backfill/adhoc: the stand-in for a worker in the alert
tests. The flows are loaded from their entrypoints, as `prefect deploy` deployments are, and
every run executes in a child process of this one (a backfill's per-date runs are runs of
nightly-pipeline/nightly, as on ECS)."""

from pathlib import Path

from prefect import flow, serve

REPO = Path(__file__).resolve().parents[2]

if __name__ == "__main__":
    nightly = flow.from_source(source=str(REPO), entrypoint="flows/nightly.py:nightly_pipeline")
    backfill = flow.from_source(source=str(REPO), entrypoint="flows/backfill.py:backfill")
    serve(
        nightly.to_deployment(name="nightly"),
        backfill.to_deployment(name="adhoc", tags=["pulsewatch", "backfill"]),
        print_starting_message=False,
    )
