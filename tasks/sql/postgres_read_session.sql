-- Planner settings for one bulk read over ADBC (tasks/warehouse/postgres_io.py), local to the
-- read's transaction. A bulk read streams every row to the client, which PostgreSQL's default
-- parallel_tuple_cost (0.1 per row passed through a Gather) prices so high that it never picks
-- a parallel plan for one; at 0.01 it does, and the leader shares the scan and join with one
-- worker. One, or fewer if the server allows fewer: a nightly batch job should not take every
-- parallel worker of a warehouse that analysts share. Measured on 2 cores, 1,000,000
-- employees: the scoring frame read in 1.6 s instead of 2.1 s (two workers: 2.0 s).
SELECT
    set_config('parallel_tuple_cost', '0.01', true) AS parallel_tuple_cost,
    set_config(
        'max_parallel_workers_per_gather',
        CAST(LEAST(CAST(current_setting('max_parallel_workers_per_gather') AS INTEGER), 1) AS TEXT),
        true
    ) AS max_parallel_workers_per_gather
