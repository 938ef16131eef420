-- Per (employee_id, feature_month) survey features, for survey months in
-- [:data_start_month, :data_end_month]. Every window looks backwards only, so a month's
-- features use data up to that month and nothing later. The LEAD columns (next_*) look one
-- month ahead: they exist only to build the training label and are never model inputs.
-- Common subset of Redshift, PostgreSQL and DuckDB: aggregate windows carry explicit ROWS frames
-- (Redshift requires them), numeric results are cast to DOUBLE PRECISION.
WITH monthly AS (
    SELECT
        r.employee_id,
        r.survey_month,
        CAST(r.work_score AS DOUBLE PRECISION) AS work_score,
        CAST(r.relationship_score AS DOUBLE PRECISION) AS relationship_score,
        CAST(r.health_score AS DOUBLE PRECISION) AS health_score,
        CAST(COALESCE(r.work_score, 0) + COALESCE(r.relationship_score, 0)
             + COALESCE(r.health_score, 0) AS DOUBLE PRECISION)
        / NULLIF(
            CASE WHEN r.work_score IS NULL THEN 0 ELSE 1 END
            + CASE WHEN r.relationship_score IS NULL THEN 0 ELSE 1 END
            + CASE WHEN r.health_score IS NULL THEN 0 ELSE 1 END, 0) AS mean_score,
        CASE
            WHEN r.work_score IS NULL AND r.relationship_score IS NULL
                 AND r.health_score IS NULL THEN 0.0
            ELSE 1.0
        END AS answered
    FROM {survey_responses} AS r
    WHERE r.survey_month >= CAST(:data_start_month AS DATE)
      AND r.survey_month <= CAST(:data_end_month AS DATE)
)
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
