-- The health breaches recorded on the last scored date before :score_date (none when that night
-- was healthy): what retrain_on_health_alert reads before tonight's freshness check.
SELECT b.score_date, b.model_version, b.rule, b.feature, b.value, b.threshold, b.since, b.dates,
       b.importance_rank, b.flow_run_id, b.recorded_at
FROM {health_breaches} AS b
WHERE b.score_date = (
    SELECT MAX(s.score_date)
    FROM {condition_scores} AS s
    WHERE s.score_date < CAST(:score_date AS DATE)
)
ORDER BY b.rule, b.feature
