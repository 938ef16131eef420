-- Compute one feature month's survey features inside the warehouse (no row leaves it) and store
-- them in employee_features. Runs in the transaction that first deleted that month's rows.
INSERT INTO {employee_features} (
    feature_month, employee_id, work_score, relationship_score, health_score, mean_score,
    answered, mean_3m, mean_6m, delta_1m, delta_3m, volatility_6m, response_rate_6m,
    min_mean_3m
)
WITH monthly AS (
{monthly}
)
SELECT
    f.feature_month, f.employee_id, f.work_score, f.relationship_score, f.health_score,
    f.mean_score, f.answered, f.mean_3m, f.mean_6m, f.delta_1m, f.delta_3m, f.volatility_6m,
    f.response_rate_6m, f.min_mean_3m
FROM (
{current_features}
) AS f
