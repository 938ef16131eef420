"""pulsewatch building blocks: plain functions, each with a thin Prefect task wrapper."""
