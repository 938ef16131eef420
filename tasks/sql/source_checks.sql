-- Names the first offending key of each failed source check, run when source_profile.sql has
-- counted a problem (it finds the same problems in one pass). One row per failed check (no
-- rows when the data is clean): the table, the column, the kind of problem, how many rows (or
-- keys) break it and one offending key (employee_id, survey_month), never a whole row. The
-- failures are source_failures.sql.
WITH failures AS (
{failures}
),
ranked AS (
    SELECT
        table_name, column_name, problem, employee_id, survey_month,
        COUNT(*) OVER (PARTITION BY table_name, column_name, problem) AS bad_rows,
        ROW_NUMBER() OVER (
            PARTITION BY table_name, column_name, problem
            ORDER BY employee_id, survey_month) AS rn
    FROM failures
)
SELECT table_name, column_name, problem, bad_rows, employee_id, survey_month
FROM ranked
WHERE rn = 1
ORDER BY table_name, column_name, problem
