-- One pass over each source table, every night: (1) the source checks of source_checks.sql as
-- counts (the clean case costs this pass only; the query naming an offending key runs only when
-- a count is not zero; keep the conditions identical to source_checks.sql), and (2) `fp_*`, a
-- fingerprint of the survey rows inside [:data_start_month, :data_end_month], which the
-- feature snapshot of that window is stored with (tasks/feature_store.py).
--
-- The fingerprint: row and answer counts, score sums, and one checksum of every row's three
-- scores weighted by a factor of its (employee, month) key (so a score moved to another
-- employee or month changes it too), plus the latest answer time. An added, removed, re-keyed
-- or re-scored row changes it; only edits that cancel out in every sum at once would not.
-- Scores count in tenths (integers): exact sums, whatever order the warehouse adds them in.
-- DATE_PART, not EXTRACT: EXTRACT returns NUMERIC on PostgreSQL and is several times slower.
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
        AS employees_hired_on_null,
    SUM(s.in_window) AS fp_rows,
    COUNT(CASE WHEN s.in_window = 1 THEN s.work_tenths END) AS fp_n_work,
    COUNT(CASE WHEN s.in_window = 1 THEN s.relationship_tenths END) AS fp_n_relationship,
    COUNT(CASE WHEN s.in_window = 1 THEN s.health_tenths END) AS fp_n_health,
    SUM(CASE WHEN s.in_window = 1 THEN s.work_tenths END) AS fp_sum_work,
    SUM(CASE WHEN s.in_window = 1 THEN s.relationship_tenths END) AS fp_sum_relationship,
    SUM(CASE WHEN s.in_window = 1 THEN s.health_tenths END) AS fp_sum_health,
    SUM(CASE WHEN s.in_window = 1 THEN
        ((COALESCE(s.work_tenths, -1) + 2)
         + 103 * (COALESCE(s.relationship_tenths, -1) + 2)
         + 10609 * (COALESCE(s.health_tenths, -1) + 2))
        * (MOD(s.employee_id, 997) * 13 + CAST(DATE_PART('month', s.survey_month) AS BIGINT) + 1)
    END) AS fp_checksum,
    MIN(CASE WHEN s.in_window = 1 THEN s.employee_id END) AS fp_min_employee_id,
    MAX(CASE WHEN s.in_window = 1 THEN s.employee_id END) AS fp_max_employee_id,
    MAX(CASE WHEN s.in_window = 1 THEN s.answered_at END) AS fp_last_answered_at
FROM (
    SELECT
        r.employee_id, r.survey_month, r.work_score, r.relationship_score, r.health_score,
        r.answered_at,
        CAST(ROUND(r.work_score * 10) AS BIGINT) AS work_tenths,
        CAST(ROUND(r.relationship_score * 10) AS BIGINT) AS relationship_tenths,
        CAST(ROUND(r.health_score * 10) AS BIGINT) AS health_tenths,
        CASE
            WHEN r.survey_month >= CAST(:data_start_month AS DATE)
             AND r.survey_month <= CAST(:data_end_month AS DATE) THEN 1
            ELSE 0
        END AS in_window
    FROM {survey_responses} AS r
) AS s
