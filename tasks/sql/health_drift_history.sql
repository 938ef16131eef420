-- One model's PSI by night in [:first_score_date, :score_date]: tonight's drift and how long
-- each feature has been above the limit (the `since` of a drift breach, tasks/health.py).
SELECT score_date, feature, psi
FROM {model_drift}
WHERE model_version = :model_version
  AND score_date >= CAST(:first_score_date AS DATE)
  AND score_date <= CAST(:score_date AS DATE)
ORDER BY score_date, feature
