-- BASELINE for benchmarks/source_profile.py only: the source profile before the row-hash
-- fingerprint (commit 7658f8e), whose linear checksum edits could cancel out. Not used by pulsewatch.
-- Every night, one pass over the window's survey rows ([:data_start_month, :data_end_month])
-- plus two cheap whole-table scans, one row per survey month of the window (one row with NULL
-- survey_month when the window is empty): (1) the source checks of source_checks.sql as counts
-- (the clean case costs this query only; the query naming an offending key runs only when a
-- count is not zero; keep the conditions identical to source_checks.sql), (2) the rows per
-- month (an empty month is refused), and (3) `fp_*`, the parts of a fingerprint of the window's
-- survey rows, which the feature snapshot of that window is stored with (tasks/feature_store.py
-- adds the months' parts up in tasks/source_checks.py). The window pass only reads the months a run uses, however long the
-- history (on Redshift, a sort key on survey_month skips the other blocks).
--
-- The fingerprint: row and answer counts, score sums, and one checksum of every row's three
-- scores weighted by a factor of its (employee, month) key (so a score moved to another
-- employee or month changes it too), plus the latest answer time. An added, removed, re-keyed
-- or re-scored row changes it; only edits that cancel out in every sum at once would not.
-- Scores count in tenths (integers): exact sums, whatever order the warehouse adds them in.
-- DATE_PART, not EXTRACT: EXTRACT returns NUMERIC on PostgreSQL and is several times slower.
-- No ORDER BY: every reader of the profile (tasks/source_checks.py) sums, takes extremes or
-- a set of months, and Redshift's parallel UNLOAD would not keep an order anyway.
SELECT
    w.survey_month,
    w.work_score_range, w.relationship_score_range, w.health_score_range,
    w.survey_month_not_month_start,
    k.employee_id_null, k.survey_month_null, k.survey_month_future,
    e.employees_duplicate, e.employees_employee_id_null, e.employees_hired_on_null,
    w.fp_rows, w.fp_n_work, w.fp_n_relationship, w.fp_n_health,
    w.fp_sum_work, w.fp_sum_relationship, w.fp_sum_health, w.fp_checksum,
    w.fp_min_employee_id, w.fp_max_employee_id, w.fp_last_answered_at
FROM (
    SELECT
        COUNT(CASE WHEN p.employee_id IS NULL THEN 1 END) AS employees_employee_id_null,
        COUNT(CASE WHEN p.hired_on IS NULL THEN 1 END) AS employees_hired_on_null,
        COUNT(*) - COUNT(DISTINCT p.employee_id) AS employees_duplicate
    FROM {employees} AS p
) AS e
CROSS JOIN (
    SELECT
        COUNT(CASE WHEN a.employee_id IS NULL THEN 1 END) AS employee_id_null,
        COUNT(CASE WHEN a.survey_month IS NULL THEN 1 END) AS survey_month_null,
        COUNT(CASE WHEN a.survey_month > CAST(:horizon AS DATE) THEN 1 END)
            AS survey_month_future
    FROM {survey_responses} AS a
) AS k
LEFT JOIN (
    SELECT
        s.survey_month,
        COUNT(CASE WHEN s.work_score < 0 OR s.work_score > 10 THEN 1 END) AS work_score_range,
        COUNT(CASE WHEN s.relationship_score < 0 OR s.relationship_score > 10 THEN 1 END)
            AS relationship_score_range,
        COUNT(CASE WHEN s.health_score < 0 OR s.health_score > 10 THEN 1 END)
            AS health_score_range,
        -- per month, not per row: the rows are grouped by survey_month
        CASE WHEN DATE_PART('day', s.survey_month) <> 1 THEN COUNT(*) ELSE 0 END
            AS survey_month_not_month_start,
        COUNT(*) AS fp_rows,
        COUNT(s.work_tenths) AS fp_n_work,
        COUNT(s.relationship_tenths) AS fp_n_relationship,
        COUNT(s.health_tenths) AS fp_n_health,
        SUM(s.work_tenths) AS fp_sum_work,
        SUM(s.relationship_tenths) AS fp_sum_relationship,
        SUM(s.health_tenths) AS fp_sum_health,
        -- SUM(code * (MOD(employee_id, 997) * 13 + month + 1)), with the month's term taken
        -- out of the sum (it is constant within the group): one DATE_PART per month, not per
        -- row. Equal to the row-wise form except for rows with a NULL employee_id, which the
        -- contract refuses (employee_id_null) before a flow keeps a fingerprint.
        SUM(s.score_code * MOD(s.employee_id, 997)) * 13
            + (CAST(DATE_PART('month', s.survey_month) AS BIGINT) + 1) * SUM(s.score_code)
            AS fp_checksum,
        MIN(s.employee_id) AS fp_min_employee_id,
        MAX(s.employee_id) AS fp_max_employee_id,
        MAX(s.answered_at) AS fp_last_answered_at
    FROM (
        SELECT
            t.*,
            -- the row's three scores as one number (NULL counts as -1 tenths)
            (COALESCE(t.work_tenths, -1) + 2)
            + 103 * (COALESCE(t.relationship_tenths, -1) + 2)
            + 10609 * (COALESCE(t.health_tenths, -1) + 2)
                AS score_code
        FROM (
            -- Scores in tenths. A score outside [0, 10] counts as NULL here: the range checks
            -- above count it and stop the run, and an absurd value (1e15) cannot overflow the
            -- fingerprint's integer sums before they do.
            SELECT
                r.employee_id, r.survey_month, r.work_score, r.relationship_score,
                r.health_score, r.answered_at,
                CASE WHEN r.work_score >= 0 AND r.work_score <= 10
                     THEN CAST(ROUND(r.work_score * 10) AS BIGINT) END AS work_tenths,
                CASE WHEN r.relationship_score >= 0 AND r.relationship_score <= 10
                     THEN CAST(ROUND(r.relationship_score * 10) AS BIGINT) END
                    AS relationship_tenths,
                CASE WHEN r.health_score >= 0 AND r.health_score <= 10
                     THEN CAST(ROUND(r.health_score * 10) AS BIGINT) END AS health_tenths
            FROM {survey_responses} AS r
            WHERE r.survey_month >= CAST(:data_start_month AS DATE)
              AND r.survey_month <= CAST(:data_end_month AS DATE)
        ) AS t
    ) AS s
    GROUP BY s.survey_month
) AS w ON 1 = 1
