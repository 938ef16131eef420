-- The health breaches recorded on one score date.
SELECT score_date, model_version, rule, feature, value, threshold, since, dates,
       importance_rank, flow_run_id, recorded_at
FROM {health_breaches}
WHERE score_date = CAST(:score_date AS DATE)
ORDER BY rule, feature
