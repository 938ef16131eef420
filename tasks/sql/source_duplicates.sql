-- Duplicate (employee_id, survey_month) keys inside [:data_start_month, :data_end_month]: how
-- many, and the first one. The most expensive source check (a GROUP BY over every key), so a
-- scoring night runs it only when the feature snapshot is rebuilt from changed rows.
WITH duplicates AS (
    SELECT employee_id, survey_month
    FROM {survey_responses}
    WHERE survey_month >= CAST(:data_start_month AS DATE)
      AND survey_month <= CAST(:data_end_month AS DATE)
    GROUP BY employee_id, survey_month
    HAVING COUNT(*) > 1
),
ranked AS (
    SELECT
        employee_id, survey_month,
        COUNT(*) OVER () AS bad_rows,
        ROW_NUMBER() OVER (ORDER BY employee_id, survey_month) AS rn
    FROM duplicates
)
SELECT
    'survey_responses' AS table_name, 'employee_id, survey_month' AS column_name,
    'duplicate' AS problem, bad_rows, employee_id, survey_month
FROM ranked
WHERE rn = 1
