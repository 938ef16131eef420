-- One row per employee active on :score_date (hired on or before it, not left by it), with
-- the features of :feature_month (the last complete survey month before the score date) from
-- its snapshot (feature_snapshot_insert.sql). Employees with no survey row that month (new
-- hires) get NULL features, which the model treats as missing values, so everyone active is
-- scored. No ORDER BY: chunks are scored independently and the rows stream as they are joined.
SELECT
    e.employee_id,
    CAST(:feature_month AS DATE) AS feature_month,
    e.department,
    -- employees hired after the feature month have tenure 0, as on their first survey.
    -- DATE_PART, not EXTRACT: EXTRACT returns NUMERIC on PostgreSQL, whose arithmetic cost
    -- about 0.5 s of this query's 2 s on 1,000,000 employees.
    CAST(GREATEST(0,
        (DATE_PART('year', CAST(:feature_month AS DATE)) - DATE_PART('year', e.hired_on)) * 12
        + DATE_PART('month', CAST(:feature_month AS DATE)) - DATE_PART('month', e.hired_on))
         AS DOUBLE PRECISION) AS tenure_months,
    f.work_score, f.relationship_score, f.health_score, f.mean_score, f.answered,
    f.mean_3m, f.mean_6m, f.delta_1m, f.delta_3m, f.volatility_6m, f.response_rate_6m,
    f.min_mean_3m
FROM {employees} AS e
LEFT JOIN {employee_features} AS f
    ON f.employee_id = e.employee_id
   AND f.feature_month = CAST(:feature_month AS DATE)
WHERE e.hired_on <= CAST(:score_date AS DATE)
  AND (e.left_on IS NULL OR e.left_on > CAST(:score_date AS DATE))
