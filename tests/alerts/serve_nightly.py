"""Serve the nightly flow as the deployment nightly-pipeline/nightly: the stand-in for a
worker in the alert tests. The flow is loaded from its entrypoint, as `prefect deploy`
deployments are, and every run executes in a child process of this one."""

from pathlib import Path

from prefect import flow

REPO = Path(__file__).resolve().parents[2]

if __name__ == "__main__":
    nightly = flow.from_source(source=str(REPO), entrypoint="flows/nightly.py:nightly_pipeline")
    nightly.serve(name="nightly", print_starting_message=False)
