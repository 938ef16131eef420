-- The offending keys of a refused run, kept inside the warehouse (tasks/source_issues.py): the
-- messages that reach Prefect and Slack name the table, column, count and month, and this
-- table's flow_run_id. Appended to by each refused run (one transaction per run id).
CREATE TABLE IF NOT EXISTS {source_issues} (
    flow_run_id VARCHAR(64) NOT NULL,
    table_name VARCHAR(64) NOT NULL,
    column_name VARCHAR(128) NOT NULL,
    employee_id BIGINT,
    month DATE,
    problem VARCHAR(32) NOT NULL
);
