-- Duplicate (employee_id, survey_month) keys inside [:data_start_month, :data_end_next): how
-- many, and the first one. A GROUP BY over every key: source_profile.sql counts duplicates per
-- month every night, and this query runs when it found one (and before a snapshot rebuild).
WITH duplicates AS (
    SELECT employee_id, survey_month
    FROM {survey_responses}
    WHERE survey_month >= CAST(:data_start_month AS DATE)
      AND survey_month < CAST(:data_end_next AS DATE)
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
