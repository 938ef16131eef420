-- Labelled feature rows for feature months in [:first_month, :last_month], over the `features`
-- CTE (features.sql over monthly.sql): THE label, included by training_frame.sql (training) and
-- model_performance_insert.sql (realized performance of past scores), so both use one definition.
-- The caller passes :data_end_month = :last_month + 1 month, the month whose survey holds the
-- labels, so every label is observable. No ORDER BY: the including statement orders.
--
-- LABEL (condition drop in the month after feature_month), 1 when any of:
--   * the employee leaves before the end of the next month
--       (left_on < feature_month + 2 months);
--   * the employee is still employed next month but skips the whole survey;
--   * next month's mean score is at least 2 points below the trailing 3-month mean
--       (next_mean_score <= mean_3m - 2).
-- Otherwise 0. Rows whose outcome is unobservable (no survey row next month and no leave
-- recorded) are dropped.
-- "left_on < feature_month + 2 months" compares month numbers (year * 12 + month): feature_month
-- is a month's first day (the source contract), so the two are the same, and Redshift refuses
-- a month INTERVAL added to a column ("Interval values with month or year parts are not
-- supported"; tests/support/redshift_lint.py).
SELECT
    f.employee_id,
    f.feature_month,
    e.department,
    -- DATE_PART, not EXTRACT (NUMERIC on PostgreSQL): as in scoring_frame.sql
    CAST((DATE_PART('year', f.feature_month) - DATE_PART('year', e.hired_on)) * 12
         + DATE_PART('month', f.feature_month) - DATE_PART('month', e.hired_on)
         AS DOUBLE PRECISION) AS tenure_months,
    f.work_score, f.relationship_score, f.health_score, f.mean_score, f.answered,
    f.mean_3m, f.mean_6m, f.delta_1m, f.delta_3m, f.volatility_6m, f.response_rate_6m,
    f.min_mean_3m,
    CASE
        WHEN e.left_on IS NOT NULL
             AND DATE_PART('year', e.left_on) * 12 + DATE_PART('month', e.left_on)
                 < DATE_PART('year', f.feature_month) * 12 + DATE_PART('month', f.feature_month) + 2
            THEN 1
        WHEN f.next_answered = 0 THEN 1
        WHEN f.next_mean_score <= f.mean_3m - 2 THEN 1
        ELSE 0
    END AS label
FROM features AS f
JOIN {employees} AS e ON e.employee_id = f.employee_id
WHERE f.feature_month >= CAST(:first_month AS DATE)
  AND f.feature_month <= CAST(:last_month AS DATE)
  AND (f.next_month IS NOT NULL
       OR (e.left_on IS NOT NULL
           AND DATE_PART('year', e.left_on) * 12 + DATE_PART('month', e.left_on)
               < DATE_PART('year', f.feature_month) * 12 + DATE_PART('month', f.feature_month) + 2))
