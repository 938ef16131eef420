-- The realized metrics of score dates in [:first_score_date, :last_score_date] (aggregates).
SELECT score_date, model_version, metric, value, n
FROM {model_performance}
WHERE score_date >= CAST(:first_score_date AS DATE)
  AND score_date <= CAST(:last_score_date AS DATE)
