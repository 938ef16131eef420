-- Every night, one pass over the window's survey rows ([:data_start_month, :data_end_next), the
-- months a run reads, with any time of day) plus two cheap whole-table scans, one row per survey
-- month of the window (one row with NULL survey_month when the window is empty): (1) the source
-- checks of source_checks.sql and source_duplicates.sql as counts (the clean case costs this
-- query only; the query naming the offending keys runs only when a count is not zero; keep the
-- conditions identical to source_failures.sql), (2) the rows and the answered rows per month (an
-- empty or unanswered month is refused), and (3) `fp_*`, the parts of a fingerprint of the
-- window's survey rows, which the feature snapshot of that window is stored with
-- (tasks/source_checks.py combines the months' parts, tasks/feature_store.py compares them).
-- The window pass only reads the months a run uses, however long the history (on Redshift, a
-- sort key on survey_month skips the other blocks).
--
-- The fingerprint: per month, the rows and the answered rows, and two sums of 32-bit slices of
-- an MD5 of each row's every column (key and values, NULLs and numbers rendered canonically).
-- A sum is order-independent (no ORDER BY, whatever order the warehouse adds in) and, unlike a
-- weighted sum of the values, no set of edits cancels out in it except by chance (about 2^-64
-- for the two slices together): a swap of two employees' scores, offsetting corrections, a row
-- moved to another key all change it. The hash_a and hash_b fragments turn the MD5's first and second
-- eight hex digits into an integer, each warehouse in its own syntax (the same number on all).
-- Sums are kept modulo 2^62. Scores count in thousandths (integers): the same text whatever
-- the column's numeric type.
-- Per month, COUNT(DISTINCT employee_id) finds duplicate (employee, month) keys in this same
-- pass: the duplicate check runs every night, not only when the snapshot is rebuilt.
-- DATE_PART, not EXTRACT: EXTRACT returns NUMERIC on PostgreSQL and is several times slower.
-- No ORDER BY: every reader of the profile (tasks/source_checks.py) sums, takes extremes or
-- a set of months, and Redshift's parallel UNLOAD would not keep an order anyway.
SELECT
    w.survey_month,
    w.work_score_range, w.relationship_score_range, w.health_score_range,
    w.survey_month_not_month_start, w.survey_month_time_of_day, w.survey_duplicate_keys,
    k.employee_id_null, k.survey_month_null, k.survey_month_future,
    e.employees_duplicate, e.employees_employee_id_null, e.employees_hired_on_null,
    e.employees_hired_on_time_of_day, e.employees_left_on_time_of_day,
    w.fp_rows, w.fp_answered, w.fp_hash_a, w.fp_hash_b
FROM (
    SELECT
        COUNT(CASE WHEN p.employee_id IS NULL THEN 1 END) AS employees_employee_id_null,
        COUNT(CASE WHEN p.hired_on IS NULL THEN 1 END) AS employees_hired_on_null,
        COUNT(*) - COUNT(DISTINCT p.employee_id) AS employees_duplicate,
        COUNT(CASE WHEN p.hired_on <> CAST(p.hired_on AS DATE) THEN 1 END)
            AS employees_hired_on_time_of_day,
        COUNT(CASE WHEN p.left_on <> CAST(p.left_on AS DATE) THEN 1 END)
            AS employees_left_on_time_of_day
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
        h.survey_month,
        COUNT(CASE WHEN h.work_score < 0 OR h.work_score > 10 THEN 1 END) AS work_score_range,
        COUNT(CASE WHEN h.relationship_score < 0 OR h.relationship_score > 10 THEN 1 END)
            AS relationship_score_range,
        COUNT(CASE WHEN h.health_score < 0 OR h.health_score > 10 THEN 1 END)
            AS health_score_range,
        -- per month, not per row: the rows are grouped by survey_month
        CASE WHEN DATE_PART('day', h.survey_month) <> 1 THEN COUNT(*) ELSE 0 END
            AS survey_month_not_month_start,
        CASE WHEN h.survey_month <> CAST(h.survey_month AS DATE) THEN COUNT(*) ELSE 0 END
            AS survey_month_time_of_day,
        COUNT(h.employee_id) - COUNT(DISTINCT h.employee_id) AS survey_duplicate_keys,
        COUNT(*) AS fp_rows,
        COUNT(CASE WHEN h.work_score IS NOT NULL OR h.relationship_score IS NOT NULL
                        OR h.health_score IS NOT NULL THEN 1 END) AS fp_answered,
        -- modulo 2^62 as a BIGINT: the same exact integer from every warehouse (their sums of
        -- BIGINT are BIGINT, NUMERIC or HUGEINT; DuckDB's HUGEINT would reach Arrow as a float)
        CAST(MOD(SUM({hash_a}), 4611686018427387904) AS BIGINT) AS fp_hash_a,
        CAST(MOD(SUM({hash_b}), 4611686018427387904) AS BIGINT) AS fp_hash_b
    FROM (
        SELECT
            r.employee_id, r.survey_month, r.work_score, r.relationship_score,
            r.health_score,
            -- A score outside [0, 10] renders as 'x' here: the range checks above count it and
            -- stop the run, and an absurd value (1e15) cannot overflow a cast before they do.
            MD5(
                COALESCE(CAST(r.employee_id AS VARCHAR), 'n') || '|'
                || COALESCE(CAST(r.survey_month AS VARCHAR), 'n') || '|'
                || CASE WHEN r.work_score IS NULL THEN 'n'
                     WHEN r.work_score >= 0 AND r.work_score <= 10
                     THEN CAST(CAST(ROUND(r.work_score * 1000) AS BIGINT) AS VARCHAR)
                     ELSE 'x' END || '|'
                || CASE WHEN r.relationship_score IS NULL THEN 'n'
                     WHEN r.relationship_score >= 0 AND r.relationship_score <= 10
                     THEN CAST(CAST(ROUND(r.relationship_score * 1000) AS BIGINT) AS VARCHAR)
                     ELSE 'x' END || '|'
                || CASE WHEN r.health_score IS NULL THEN 'n'
                     WHEN r.health_score >= 0 AND r.health_score <= 10
                     THEN CAST(CAST(ROUND(r.health_score * 1000) AS BIGINT) AS VARCHAR)
                     ELSE 'x' END || '|'
                || COALESCE(CAST(r.answered_at AS VARCHAR), 'n')
            ) AS row_md5
        FROM {survey_responses} AS r
        WHERE r.survey_month >= CAST(:data_start_month AS DATE)
          AND r.survey_month < CAST(:data_end_next AS DATE)
    ) AS h
    GROUP BY h.survey_month
) AS w ON 1 = 1
