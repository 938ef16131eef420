-- Per (employee_id, feature_month) survey features over the `monthly` CTE (monthly.sql), for
-- every month: what training needs. Every window looks backwards only, so a month's features
-- use data up to that month and nothing later. The LEAD columns (next_*) look one
-- month ahead: they exist only to build the training label and are never model inputs.
-- Common subset of Redshift, PostgreSQL and DuckDB: aggregate windows carry explicit ROWS frames
-- (Redshift requires them), numeric results are cast to DOUBLE PRECISION. Frames count rows,
-- which are months: the source contract is one row per employee per month while employed.
-- current_features.sql computes the same values for one month; tests assert they agree.
SELECT
    m.employee_id,
    m.survey_month AS feature_month,
    m.work_score,
    m.relationship_score,
    m.health_score,
    m.mean_score,
    CAST(m.answered AS DOUBLE PRECISION) AS answered,
    AVG(m.mean_score) OVER (
        PARTITION BY m.employee_id ORDER BY m.survey_month
        ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS mean_3m,
    AVG(m.mean_score) OVER (
        PARTITION BY m.employee_id ORDER BY m.survey_month
        ROWS BETWEEN 5 PRECEDING AND CURRENT ROW) AS mean_6m,
    m.mean_score - LAG(m.mean_score, 1) OVER (
        PARTITION BY m.employee_id ORDER BY m.survey_month) AS delta_1m,
    m.mean_score - LAG(m.mean_score, 3) OVER (
        PARTITION BY m.employee_id ORDER BY m.survey_month) AS delta_3m,
    STDDEV_SAMP(m.mean_score) OVER (
        PARTITION BY m.employee_id ORDER BY m.survey_month
        ROWS BETWEEN 5 PRECEDING AND CURRENT ROW) AS volatility_6m,
    CAST(AVG(m.answered) OVER (
        PARTITION BY m.employee_id ORDER BY m.survey_month
        ROWS BETWEEN 5 PRECEDING AND CURRENT ROW) AS DOUBLE PRECISION) AS response_rate_6m,
    MIN(m.mean_score) OVER (
        PARTITION BY m.employee_id ORDER BY m.survey_month
        ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS min_mean_3m,
    LEAD(m.survey_month, 1) OVER (
        PARTITION BY m.employee_id ORDER BY m.survey_month) AS next_month,
    LEAD(m.mean_score, 1) OVER (
        PARTITION BY m.employee_id ORDER BY m.survey_month) AS next_mean_score,
    LEAD(m.answered, 1) OVER (
        PARTITION BY m.employee_id ORDER BY m.survey_month) AS next_answered
FROM monthly AS m
