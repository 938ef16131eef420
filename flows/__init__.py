"""pulsewatch Prefect flows (orchestration only) and the `pulsewatch` command line."""
