-- Result tables written by pulsewatch. The primary keys are informational on Redshift;
-- uniqueness is guaranteed by the writers (one transaction per score_date, locked).
CREATE TABLE IF NOT EXISTS {condition_scores} (
    score_date DATE NOT NULL,
    employee_id BIGINT NOT NULL,
    risk_score DOUBLE PRECISION NOT NULL,
    model_version VARCHAR(64) NOT NULL,
    flow_run_id VARCHAR(64),
    scored_at TIMESTAMP NOT NULL,
    PRIMARY KEY (score_date, employee_id)
);

CREATE TABLE IF NOT EXISTS {model_registry} (
    model_version VARCHAR(64) NOT NULL,
    trained_at TIMESTAMP NOT NULL,
    train_end_date DATE NOT NULL,
    n_train BIGINT NOT NULL,
    auc DOUBLE PRECISION,
    params VARCHAR(4096) NOT NULL,
    artifact_uri VARCHAR(1024) NOT NULL,
    artifact_sha256 VARCHAR(64) NOT NULL,
    status VARCHAR(16) NOT NULL,
    flow_run_id VARCHAR(64),
    PRIMARY KEY (model_version)
);
