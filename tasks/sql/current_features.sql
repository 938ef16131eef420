-- The features of features.sql for one month only (:feature_month), as one GROUP BY over the
-- `monthly` CTE instead of a chain of window functions: scoring needs a single month, and this
-- is several times cheaper for the warehouse. Same definitions, row for row (:month_1, :month_2,
-- :month_3 are the 1, 2 and 3 months before the feature month; plain date comparisons keep the
-- aggregate cheap). tests/support/feature_checks.py asserts that both queries give identical features.
SELECT
    m.employee_id,
    CAST(:feature_month AS DATE) AS feature_month,
    MAX(CASE WHEN m.survey_month = CAST(:feature_month AS DATE) THEN m.work_score END)
        AS work_score,
    MAX(CASE WHEN m.survey_month = CAST(:feature_month AS DATE) THEN m.relationship_score END)
        AS relationship_score,
    MAX(CASE WHEN m.survey_month = CAST(:feature_month AS DATE) THEN m.health_score END)
        AS health_score,
    MAX(CASE WHEN m.survey_month = CAST(:feature_month AS DATE) THEN m.mean_score END)
        AS mean_score,
    CAST(MAX(CASE WHEN m.survey_month = CAST(:feature_month AS DATE) THEN m.answered END)
        AS DOUBLE PRECISION) AS answered,
    AVG(CASE WHEN m.survey_month >= CAST(:month_2 AS DATE) THEN m.mean_score END) AS mean_3m,
    AVG(m.mean_score) AS mean_6m,
    MAX(CASE WHEN m.survey_month = CAST(:feature_month AS DATE) THEN m.mean_score END)
        - MAX(CASE WHEN m.survey_month = CAST(:month_1 AS DATE) THEN m.mean_score END)
        AS delta_1m,
    MAX(CASE WHEN m.survey_month = CAST(:feature_month AS DATE) THEN m.mean_score END)
        - MAX(CASE WHEN m.survey_month = CAST(:month_3 AS DATE) THEN m.mean_score END)
        AS delta_3m,
    STDDEV_SAMP(m.mean_score) AS volatility_6m,
    CAST(AVG(m.answered) AS DOUBLE PRECISION) AS response_rate_6m,
    MIN(CASE WHEN m.survey_month >= CAST(:month_2 AS DATE) THEN m.mean_score END) AS min_mean_3m
FROM monthly AS m
GROUP BY m.employee_id
HAVING MAX(CASE WHEN m.survey_month = CAST(:feature_month AS DATE) THEN 1 ELSE 0 END) = 1
