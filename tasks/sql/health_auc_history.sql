-- The realized AUC of every evaluated score date in [:first_score_date, :score_date]: what the
-- realized_auc health rule reads (tasks/health.py). Aggregates only.
SELECT score_date, model_version, value
FROM {model_performance}
WHERE metric = 'auc'
  AND score_date >= CAST(:first_score_date AS DATE)
  AND score_date <= CAST(:score_date AS DATE)
ORDER BY score_date, model_version
