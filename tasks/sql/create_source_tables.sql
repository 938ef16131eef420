-- Source tables as they exist in production (created here only for demo data).
-- Scores are 0-10 and NULL when a question was not answered; answered_at is NULL when the
-- employee skipped the whole survey. One row per employee per month while employed.
CREATE TABLE IF NOT EXISTS {employees} (
    employee_id BIGINT NOT NULL,
    department VARCHAR(64) NOT NULL,
    hired_on DATE NOT NULL,
    left_on DATE
);

CREATE TABLE IF NOT EXISTS {survey_responses} (
    employee_id BIGINT NOT NULL,
    survey_month DATE NOT NULL,
    work_score SMALLINT,
    relationship_score SMALLINT,
    health_score SMALLINT,
    answered_at TIMESTAMP
);
