-- dialect: postgresql-only (never sent to Redshift: tests/unit/test_redshift_lint.py)
-- Planner settings that let one bulk read over ADBC (tasks/warehouse/postgres_io.py) run as a
-- parallel plan, local to the read's transaction. A bulk read streams every row to the client,
-- which PostgreSQL's default parallel_tuple_cost (0.1 per row passed through a Gather) prices
-- so high that it never picks a parallel plan for one; at 0.01 (or the server's own, if lower)
-- it does, and the leader shares the scan and join with one worker. One, or none if the server
-- allows none: a nightly batch job should not take every parallel worker of a warehouse that
-- analysts share. Measured on 2 cores, 1,000,000 employees: the scoring frame read in 1.6 s
-- instead of 2.2 s (two workers: 2.0 s); `make bench` measures both plans
-- (read_pulsewatch_serial).
SELECT
    set_config(
        'parallel_tuple_cost',
        CAST(LEAST(CAST(current_setting('parallel_tuple_cost') AS DOUBLE PRECISION), 0.01)
             AS TEXT),
        true
    ) AS parallel_tuple_cost,
    set_config(
        'max_parallel_workers_per_gather',
        CAST(LEAST(CAST(current_setting('max_parallel_workers_per_gather') AS INTEGER), 1) AS TEXT),
        true
    ) AS max_parallel_workers_per_gather
