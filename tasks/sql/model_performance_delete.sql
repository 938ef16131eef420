-- Clear the realized metrics of score dates about to be recomputed (same transaction).
DELETE FROM {model_performance}
WHERE score_date >= CAST(:first_score_date AS DATE)
  AND score_date <= CAST(:last_score_date AS DATE)
