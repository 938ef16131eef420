-- Risk deciles of the last scored date before :score_date (the nightly result's "previous
-- night"), binned as tasks/scoring.py bins a run's own scores (tenths, 1.0 in the last; a
-- test compares both on every edge); with each decile's risk sum and count at or above 0.5, so
-- the mean and the high-risk count come from the same rows. Aggregates only.
SELECT score_date,
       LEAST(FLOOR(risk_score * 10), 9) AS decile,
       COUNT(*) AS n,
       SUM(risk_score) AS risk_sum,
       SUM(CASE WHEN risk_score >= 0.5 THEN 1 ELSE 0 END) AS high_risk
FROM {condition_scores}
WHERE score_date = (
    SELECT MAX(score_date) FROM {condition_scores} WHERE score_date < CAST(:score_date AS DATE)
)
GROUP BY score_date, LEAST(FLOOR(risk_score * 10), 9)
