-- The source checks of source_checks.sql as counts, in one pass over each source table (the
-- clean case, every night, costs two scans; the query naming an offending key runs only when
-- a count is not zero). Keep the conditions identical to source_checks.sql (DATE_PART is
-- EXTRACT returning a float: cheaper per row on PostgreSQL).
SELECT
    COUNT(CASE WHEN s.in_window = 1 AND (s.work_score < 0 OR s.work_score > 10) THEN 1 END)
        AS work_score_range,
    COUNT(CASE WHEN s.in_window = 1
               AND (s.relationship_score < 0 OR s.relationship_score > 10) THEN 1 END)
        AS relationship_score_range,
    COUNT(CASE WHEN s.in_window = 1 AND (s.health_score < 0 OR s.health_score > 10) THEN 1 END)
        AS health_score_range,
    COUNT(CASE WHEN s.employee_id IS NULL THEN 1 END) AS employee_id_null,
    COUNT(CASE WHEN s.survey_month IS NULL THEN 1 END) AS survey_month_null,
    COUNT(CASE WHEN s.survey_month > CAST(:horizon AS DATE) THEN 1 END) AS survey_month_future,
    COUNT(CASE WHEN s.in_window = 1 AND DATE_PART('day', s.survey_month) <> 1 THEN 1 END)
        AS survey_month_not_month_start,
    (SELECT COUNT(*) - COUNT(DISTINCT e.employee_id) FROM {employees} AS e)
        AS employees_duplicate,
    (SELECT COUNT(CASE WHEN e.employee_id IS NULL THEN 1 END) FROM {employees} AS e)
        AS employees_employee_id_null,
    (SELECT COUNT(CASE WHEN e.hired_on IS NULL THEN 1 END) FROM {employees} AS e)
        AS employees_hired_on_null
FROM (
    SELECT
        r.employee_id, r.survey_month, r.work_score, r.relationship_score, r.health_score,
        CASE
            WHEN r.survey_month >= CAST(:data_start_month AS DATE)
             AND r.survey_month <= CAST(:data_end_month AS DATE) THEN 1
            ELSE 0
        END AS in_window
    FROM {survey_responses} AS r
) AS s
