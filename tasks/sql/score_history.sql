-- Aggregates per score date in [:start_date, :end_date] (the nightly history and the score-date
-- status grid): rows, mean risk, how many at or above 0.5, and the model that scored the date
-- (one per date: a date is replaced whole). No employee id leaves the warehouse.
SELECT score_date,
       COUNT(*) AS n_rows,
       AVG(risk_score) AS mean_risk,
       SUM(CASE WHEN risk_score >= 0.5 THEN 1 ELSE 0 END) AS high_risk,
       MAX(model_version) AS model_version
FROM {condition_scores}
WHERE score_date >= CAST(:start_date AS DATE) AND score_date <= CAST(:end_date AS DATE)
GROUP BY score_date
