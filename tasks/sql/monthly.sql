-- One row per (employee, survey month) in [:data_start_month, :data_end_month]: the month's
-- three scores, their mean over the answered questions, and whether the survey was answered.
-- Used as the `monthly` CTE by training_frame.sql and scoring_frame.sql.
SELECT
    r.employee_id,
    r.survey_month,
    CAST(r.work_score AS DOUBLE PRECISION) AS work_score,
    CAST(r.relationship_score AS DOUBLE PRECISION) AS relationship_score,
    CAST(r.health_score AS DOUBLE PRECISION) AS health_score,
    CAST(COALESCE(r.work_score, 0) + COALESCE(r.relationship_score, 0)
         + COALESCE(r.health_score, 0) AS DOUBLE PRECISION)
    / NULLIF(
        CASE WHEN r.work_score IS NULL THEN 0 ELSE 1 END
        + CASE WHEN r.relationship_score IS NULL THEN 0 ELSE 1 END
        + CASE WHEN r.health_score IS NULL THEN 0 ELSE 1 END, 0) AS mean_score,
    -- DOUBLE PRECISION, not the literal's NUMERIC (PostgreSQL): averaging NUMERIC cost about
    -- 0.8 s of the 6 s feature query on 1,000,000 employees
    CASE
        WHEN r.work_score IS NULL AND r.relationship_score IS NULL
             AND r.health_score IS NULL THEN CAST(0 AS DOUBLE PRECISION)
        ELSE CAST(1 AS DOUBLE PRECISION)
    END AS answered
FROM {survey_responses} AS r
WHERE r.survey_month >= CAST(:data_start_month AS DATE)
  AND r.survey_month <= CAST(:data_end_month AS DATE)
