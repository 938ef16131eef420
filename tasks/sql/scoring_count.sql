-- How many rows scoring_frame.sql returns tonight: the population, counted before it streams
-- so that tasks/reasons.py can keep a conservative bound on the top risk share while scoring.
SELECT COUNT(*) AS population FROM ({scoring_frame}) AS f
