-- Aggregate checks of the source rows a run is about to read, run before anything is written,
-- when source_profile.sql has counted a problem (it finds the same problems in one pass; this
-- query names one offending key per problem). Duplicate (employee, month) keys are looked for
-- by source_duplicates.sql. One row per failed check (no rows when the data is clean): the
-- table, the column, the kind of problem, how many rows (or keys) break it and one offending key (employee_id, survey_month),
-- never a whole row. Survey rows are checked inside [:data_start_month, :data_end_next) (the
-- months the run reads, at any time of day); future months and NULL keys are looked for in the whole table.
WITH window_rows AS (
    SELECT employee_id, survey_month, work_score, relationship_score, health_score
    FROM {survey_responses}
    WHERE survey_month >= CAST(:data_start_month AS DATE)
      AND survey_month < CAST(:data_end_next AS DATE)
),
failures AS (
    SELECT 'survey_responses' AS table_name, 'work_score' AS column_name,
           'range' AS problem, employee_id, survey_month
    FROM window_rows WHERE work_score < 0 OR work_score > 10
    UNION ALL
    SELECT 'survey_responses', 'relationship_score', 'range', employee_id, survey_month
    FROM window_rows WHERE relationship_score < 0 OR relationship_score > 10
    UNION ALL
    SELECT 'survey_responses', 'health_score', 'range', employee_id, survey_month
    FROM window_rows WHERE health_score < 0 OR health_score > 10
    UNION ALL
    SELECT 'survey_responses', 'employee_id', 'null', employee_id, survey_month
    FROM {survey_responses} WHERE employee_id IS NULL
    UNION ALL
    SELECT 'survey_responses', 'survey_month', 'null', employee_id, survey_month
    FROM {survey_responses} WHERE survey_month IS NULL
    UNION ALL
    SELECT 'survey_responses', 'survey_month', 'future', employee_id, survey_month
    FROM {survey_responses} WHERE survey_month > CAST(:horizon AS DATE)
    UNION ALL
    SELECT 'survey_responses', 'survey_month', 'not_month_start', employee_id, survey_month
    FROM window_rows WHERE EXTRACT(DAY FROM survey_month) <> 1
    UNION ALL
    SELECT 'survey_responses', 'survey_month', 'time_of_day', employee_id, survey_month
    FROM window_rows WHERE survey_month <> CAST(survey_month AS DATE)
    UNION ALL
    SELECT 'employees', 'hired_on', 'time_of_day', employee_id, CAST(NULL AS DATE)
    FROM {employees} WHERE hired_on <> CAST(hired_on AS DATE)
    UNION ALL
    SELECT 'employees', 'left_on', 'time_of_day', employee_id, CAST(NULL AS DATE)
    FROM {employees} WHERE left_on <> CAST(left_on AS DATE)
    UNION ALL
    SELECT 'employees', 'employee_id', 'null', employee_id, CAST(NULL AS DATE)
    FROM {employees} WHERE employee_id IS NULL
    UNION ALL
    SELECT 'employees', 'hired_on', 'null', employee_id, CAST(NULL AS DATE)
    FROM {employees} WHERE hired_on IS NULL
    UNION ALL
    SELECT 'employees', 'employee_id', 'duplicate', employee_id, CAST(NULL AS DATE)
    FROM {employees}
    GROUP BY employee_id
    HAVING COUNT(*) > 1
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
