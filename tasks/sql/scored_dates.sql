-- Score dates in [:start_date, :end_date] that already hold results.
SELECT DISTINCT score_date FROM {condition_scores}
WHERE score_date >= CAST(:start_date AS DATE) AND score_date <= CAST(:end_date AS DATE)
