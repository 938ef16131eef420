-- The nightly profile as of 2026-12-03 morning (benchmarks/source_profile.py: profile_before),
-- before the duplicate count became one DISTINCT over a packed key: its COUNT(DISTINCT
-- employee_id) per month (subquery d) made PostgreSQL sort every window row by month, then
-- each month's ids. Kept to measure the change in the same run.
-- Every night, one pass over the window's survey rows ([:data_start_month, :data_end_next), the
-- months a run reads, with any time of day) plus cheap whole-table scans, one row per survey
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
-- The fingerprint: per month, the rows, the answered rows and two sums (variants a and b) of a
-- per-row hash of each row's every column: the key (employee_id; survey_month is the group) and
-- the values (each score in thousandths, 0..10000, NULL 10001, outside 0-10 10002; answered_at
-- in microseconds since 1970, NULL -1). The hash is integer arithmetic that DuckDB, PostgreSQL
-- and Redshift evaluate alike (BIGINT, MOD truncating toward zero on all three), every product
-- below 2^62, so no overflow: it replaced an MD5 of each row's text, ten times slower.
-- Per variant, with primes p and q (p <> q, both < 2^31) and fixed random constants:
--   u = MOD(MOD(i * A + B, q) * MOD(i * C + D, q), p), i = MOD(employee_id, p)
--   w = the values in Horner form modulo p (answered_at both modulo q and as is)
--   row hash = MOD(u * w, p)
-- Why no small set of edits cancels, except by chance (about 1/p per variant):
-- - not a swap of two employees' values: the sums differ by (u1 - u2) * (w1 - w2) mod p,
--   zero only if the two keys' u or the two rows' w coincide (a product of two non-zero
--   numbers modulo a prime is not zero);
-- - not offsetting corrections (+d/-2d/+d on three employees) nor rows moved between keys
--   with the same values: unlike a weighted sum of the values (the former checksum), u is not
--   linear in the key, and not even a polynomial of it: the reduction modulo q before the
--   product modulo p scrambles which multiple of q is taken off, so keys in arithmetic
--   progression (or any pattern of equal power sums) give unrelated u; a linear relation
--   among them with the edits' small coefficients holds with probability ~1/p;
-- - not a change inside a row: w takes each value with a factor K^j modulo p; two values
--   changed at once cancel only at a lattice point of (K, p), ~1/p for an edit not built
--   from the constants; answered_at enters modulo q and modulo p, so only a shift by a
--   multiple of p * q microseconds (146,000 years) is invisible;
-- - a key shifted by exactly p (2^31 - 1) keeps i in variant a, not in variant b (another p):
--   the two variants use different primes and constants, so an edit must fool both.
-- {answered_us}: answered_at in microseconds since 1970 as a BIGINT, in each warehouse's syntax
-- (Warehouse.epoch_microseconds: EXTRACT(EPOCH ...) is the one form Redshift documents).
-- Sums of BIGINT are kept modulo 2^62 (they stay far below: each row adds less than 2^31).
-- Per month, COUNT(DISTINCT employee_id) finds duplicate (employee, month) keys: the duplicate
-- check runs every night, not only when the snapshot is rebuilt. It is a separate, narrow
-- aggregate (d) joined by month: grouped with the hash sums, PostgreSQL would sort every
-- wide row by month for the DISTINCT and give up the parallel hash aggregate.
-- DATE_PART('day'), not EXTRACT: EXTRACT returns NUMERIC on PostgreSQL, several times slower.
-- No ORDER BY: every reader of the profile (tasks/source_checks.py) sums, takes extremes or
-- a set of months, and Redshift's parallel UNLOAD would not keep an order anyway.
SELECT
    w.survey_month,
    w.work_score_range, w.relationship_score_range, w.health_score_range,
    w.survey_month_not_month_start, w.survey_month_time_of_day, d.survey_duplicate_keys,
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
        COUNT(*) AS fp_rows,
        COUNT(CASE WHEN h.work_score IS NOT NULL OR h.relationship_score IS NOT NULL
                        OR h.health_score IS NOT NULL THEN 1 END) AS fp_answered,
        -- modulo 2^62 as a BIGINT: the same exact integer from every warehouse (their sums of
        -- BIGINT are BIGINT, NUMERIC or HUGEINT; DuckDB's HUGEINT would reach Arrow as a float)
        CAST(MOD(SUM(
            MOD(MOD(MOD(COALESCE(MOD(h.employee_id, 2147483647), 2147483647) * 270664044 + 97069887, 2147483629)
                   * MOD(COALESCE(MOD(h.employee_id, 2147483647), 2147483647) * 1924330103 + 376555665, 2147483629), 2147483647)
               * MOD(MOD(MOD((h.work_code + 10003 * h.relationship_code) * 1891991589 + h.health_code, 2147483647)
                           * 1891991589 + MOD(h.answered_code, 2147483629), 2147483647) * 1891991589 + h.answered_code, 2147483647), 2147483647)
        ), 4611686018427387904) AS BIGINT) AS fp_hash_a,
        CAST(MOD(SUM(
            MOD(MOD(MOD(COALESCE(MOD(h.employee_id, 2147483587), 2147483587) * 667386050 + 583085001, 2147483579)
                   * MOD(COALESCE(MOD(h.employee_id, 2147483587), 2147483587) * 665327023 + 184853931, 2147483579), 2147483587)
               * MOD(MOD(MOD((h.work_code + 10003 * h.relationship_code) * 1168139330 + h.health_code, 2147483587)
                           * 1168139330 + MOD(h.answered_code, 2147483579), 2147483587) * 1168139330 + h.answered_code, 2147483587), 2147483587)
        ), 4611686018427387904) AS BIGINT) AS fp_hash_b
    FROM (
        SELECT
            r.employee_id, r.survey_month, r.work_score, r.relationship_score,
            r.health_score,
            -- A score outside [0, 10] codes as 10002 here: the range checks above count it and
            -- stop the run, and an absurd value (1e15) cannot overflow a cast before they do.
            CASE WHEN r.work_score IS NULL THEN 10001
                     WHEN r.work_score >= 0 AND r.work_score <= 10
                     THEN CAST(ROUND(r.work_score * 1000) AS BIGINT) ELSE 10002 END AS work_code,
            CASE WHEN r.relationship_score IS NULL THEN 10001
                     WHEN r.relationship_score >= 0 AND r.relationship_score <= 10
                     THEN CAST(ROUND(r.relationship_score * 1000) AS BIGINT) ELSE 10002 END AS relationship_code,
            CASE WHEN r.health_score IS NULL THEN 10001
                     WHEN r.health_score >= 0 AND r.health_score <= 10
                     THEN CAST(ROUND(r.health_score * 1000) AS BIGINT) ELSE 10002 END AS health_code,
            CASE WHEN r.answered_at IS NULL THEN -1
                 ELSE {answered_us} END
                AS answered_code
        FROM {survey_responses} AS r
        WHERE r.survey_month >= CAST(:data_start_month AS DATE)
          AND r.survey_month < CAST(:data_end_next AS DATE)
    ) AS h
    GROUP BY h.survey_month
) AS w ON 1 = 1
LEFT JOIN (
    SELECT
        s.survey_month,
        COUNT(s.employee_id) - COUNT(DISTINCT s.employee_id) AS survey_duplicate_keys
    FROM {survey_responses} AS s
    WHERE s.survey_month >= CAST(:data_start_month AS DATE)
      AND s.survey_month < CAST(:data_end_next AS DATE)
    GROUP BY s.survey_month
) AS d ON d.survey_month = w.survey_month
