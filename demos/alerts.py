"""`make demo-alerts`: watch a failure alert arrive at a local Slack stand-in.

Starts a throwaway `prefect server` and a runner serving nightly-pipeline/nightly (both on free
loopback ports, private PREFECT_HOME), applies the pulsewatch automations with a loopback
receiver as the webhook, runs the nightly deployment against an empty warehouse (so it fails:
its source tables are missing) and prints the Slack payload the receiver got. Everything it
started is stopped at the end.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from tests.support.alert_services import (
    Receiver,
    start_prefect_server,
    start_runner,
    stop,
    wait_for,
)


def main() -> None:
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pw-demo-alerts-") as tmp:
        home = Path(tmp)
        (home / "prefect").mkdir()
        print("starting a local prefect server (services on) ...", flush=True)
        server = start_prefect_server(home / "prefect")
        receiver = Receiver().start()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PULSEWATCH_")}
        env.update(
            PULSEWATCH_WAREHOUSE_URL=f"duckdb:///{home}/empty.duckdb",
            PULSEWATCH_MODEL_STORE=str(home / "models"),
            PULSEWATCH_WORK_DIR=str(home / "work"),
        )
        runner = start_runner(home / "prefect", server.api_url, env, home / "runner.log")
        try:
            from prefect.client.orchestration import get_client
            from prefect.deployments import run_deployment
            from prefect.settings import PREFECT_API_URL, temporary_settings

            from deployments.automations import AlertPolicy, apply_alerting

            with temporary_settings({PREFECT_API_URL: server.api_url}):
                for change in apply_alerting(AlertPolicy(), receiver.url):
                    print(f"  {change}")

                def registered() -> bool:
                    with get_client(sync_client=True) as client:
                        return bool(client.read_deployments())

                wait_for(registered, 120, "the runner to register nightly-pipeline/nightly")
                run = run_deployment("nightly-pipeline/nightly", timeout=0)
                print(f"started {run.name} against an empty warehouse; waiting for Slack ...")
                wait_for(lambda: receiver.about(run.name), 120, "the alert")
                message = receiver.about(run.name)[0]
                print(json.dumps(message.payload, indent=2))
                print(f"alert received {time.monotonic() - began:.0f}s after `make demo-alerts`")
        finally:
            stop(runner)
            receiver.stop()
            stop(server.process)


if __name__ == "__main__":
    main()
