-- Score dates in [:first_score_date, :last_score_date] (the caller's lookback up to the last
-- date whose labels are known) not yet evaluated, or scored again since they were.
WITH scored AS (
    SELECT score_date, MAX(scored_at) AS scored_at
    FROM {condition_scores}
    WHERE score_date >= CAST(:first_score_date AS DATE)
      AND score_date <= CAST(:last_score_date AS DATE)
    GROUP BY score_date
),
evaluated AS (
    SELECT score_date, MIN(computed_at) AS computed_at
    FROM {model_performance}
    WHERE score_date >= CAST(:first_score_date AS DATE)
      AND score_date <= CAST(:last_score_date AS DATE)
    GROUP BY score_date
)
SELECT s.score_date
FROM scored AS s
LEFT JOIN evaluated AS e ON e.score_date = s.score_date
WHERE e.score_date IS NULL OR e.computed_at < s.scored_at
ORDER BY s.score_date
