-- Every offending key of the source checks (source_failures.sql) into source_issues, inside the
-- warehouse: no key leaves it.
INSERT INTO {source_issues} (flow_run_id, table_name, column_name, employee_id, month, problem)
SELECT
    CAST(:flow_run_id AS VARCHAR(64)), f.table_name, f.column_name, f.employee_id,
    CAST(f.survey_month AS DATE), f.problem
FROM (
{failures}
) AS f
