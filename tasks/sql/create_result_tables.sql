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
    promoted_at TIMESTAMP,
    retired_at TIMESTAMP,
    replaced_by VARCHAR(64),
    PRIMARY KEY (model_version)
);

-- The survey features of one feature month (current_features.sql), computed once per month in
-- the warehouse instead of every night; rebuilt when the source rows behind them change
-- (feature_snapshots.source_fingerprint). Derived data: safe to delete, rebuilt on demand.
CREATE TABLE IF NOT EXISTS {employee_features} (
    feature_month DATE NOT NULL,
    employee_id BIGINT NOT NULL,
    work_score DOUBLE PRECISION,
    relationship_score DOUBLE PRECISION,
    health_score DOUBLE PRECISION,
    mean_score DOUBLE PRECISION,
    answered DOUBLE PRECISION,
    mean_3m DOUBLE PRECISION,
    mean_6m DOUBLE PRECISION,
    delta_1m DOUBLE PRECISION,
    delta_3m DOUBLE PRECISION,
    volatility_6m DOUBLE PRECISION,
    response_rate_6m DOUBLE PRECISION,
    min_mean_3m DOUBLE PRECISION,
    PRIMARY KEY (feature_month, employee_id)
);

CREATE TABLE IF NOT EXISTS {feature_snapshots} (
    feature_month DATE NOT NULL,
    source_fingerprint VARCHAR(1024) NOT NULL,
    n_employees BIGINT NOT NULL,
    built_at TIMESTAMP NOT NULL,
    flow_run_id VARCHAR(64),
    PRIMARY KEY (feature_month)
);

-- Model health (tasks/monitoring.py): aggregates only, idempotent per score_date.
-- Realized performance of the scores of one score date, once its labels are known
-- (model_performance_insert.sql); value is NULL where a metric is undefined (AUC of one class).
CREATE TABLE IF NOT EXISTS {model_performance} (
    score_date DATE NOT NULL,
    model_version VARCHAR(64) NOT NULL,
    metric VARCHAR(32) NOT NULL,
    value DOUBLE PRECISION,
    n BIGINT NOT NULL,
    computed_at TIMESTAMP NOT NULL,
    PRIMARY KEY (score_date, model_version, metric)
);

-- Population stability of each numeric feature and of the risk score on one score date against
-- the scoring model's reference (its validation months; tasks/drift.py).
CREATE TABLE IF NOT EXISTS {model_drift} (
    score_date DATE NOT NULL,
    model_version VARCHAR(64) NOT NULL,
    feature VARCHAR(64) NOT NULL,
    psi DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (score_date, feature)
);

-- The model-health rules a night broke (tasks/health.py), replaced per score date (none when
-- healthy): what the amber alert reported, and what retrain_on_health_alert reads the next night.
-- feature: what moved ('auc' for the realized_auc rule, 'risk_score', or a feature name).
CREATE TABLE IF NOT EXISTS {health_breaches} (
    score_date DATE NOT NULL,
    model_version VARCHAR(64) NOT NULL,
    rule VARCHAR(32) NOT NULL,
    feature VARCHAR(64) NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    threshold DOUBLE PRECISION NOT NULL,
    since DATE NOT NULL,
    dates BIGINT NOT NULL,
    importance_rank BIGINT,
    flow_run_id VARCHAR(64),
    recorded_at TIMESTAMP NOT NULL,
    PRIMARY KEY (score_date, rule, feature)
);

-- Why each of a night's high-risk employees scored high (tasks/reasons.py): the (up to) three
-- features with the largest positive LightGBM contributions (log-odds), for everyone at or above
-- the night's top-share threshold. Row data, like condition_scores: it never leaves the
-- warehouse. Written in the same transaction as the date's condition_scores (tasks/results.py).
CREATE TABLE IF NOT EXISTS {score_reasons} (
    score_date DATE NOT NULL,
    employee_id BIGINT NOT NULL,
    rank INTEGER NOT NULL,
    feature VARCHAR(64) NOT NULL,
    value VARCHAR(256),
    contribution DOUBLE PRECISION NOT NULL,
    model_version VARCHAR(64) NOT NULL,
    flow_run_id VARCHAR(64),
    PRIMARY KEY (score_date, employee_id, rank)
);

-- What the product team queries: the rows of the latest score date, which by condition_scores'
-- contract hold exactly one row per employee active that night, with their reasons (NULL for an
-- employee below the night's reasons threshold). Over the result tables alone, so it can be
-- created before the source tables exist (join employees for the department). Its columns
-- change only by appending (CREATE OR REPLACE VIEW on PostgreSQL); a view of older columns is
-- dropped first (tasks/registry.py: migrate_latest_view; Redshift replaces only like for like).
CREATE OR REPLACE VIEW {latest_condition_scores} AS
SELECT
    s.score_date,
    s.employee_id,
    s.risk_score,
    s.model_version,
    s.scored_at,
    r.reason_1,
    r.reason_1_value,
    r.reason_1_contribution,
    r.reason_2,
    r.reason_2_value,
    r.reason_2_contribution,
    r.reason_3,
    r.reason_3_value,
    r.reason_3_contribution
FROM {condition_scores} AS s
LEFT JOIN (
    SELECT
        x.score_date,
        x.employee_id,
        MAX(CASE WHEN x.rank = 1 THEN x.feature END) AS reason_1,
        MAX(CASE WHEN x.rank = 1 THEN x.value END) AS reason_1_value,
        MAX(CASE WHEN x.rank = 1 THEN x.contribution END) AS reason_1_contribution,
        MAX(CASE WHEN x.rank = 2 THEN x.feature END) AS reason_2,
        MAX(CASE WHEN x.rank = 2 THEN x.value END) AS reason_2_value,
        MAX(CASE WHEN x.rank = 2 THEN x.contribution END) AS reason_2_contribution,
        MAX(CASE WHEN x.rank = 3 THEN x.feature END) AS reason_3,
        MAX(CASE WHEN x.rank = 3 THEN x.value END) AS reason_3_value,
        MAX(CASE WHEN x.rank = 3 THEN x.contribution END) AS reason_3_contribution
    FROM {score_reasons} AS x
    WHERE x.score_date = (SELECT MAX(lr.score_date) FROM {condition_scores} AS lr)
    GROUP BY x.score_date, x.employee_id
) AS r
    ON r.score_date = s.score_date
   AND r.employee_id = s.employee_id
WHERE s.score_date = (SELECT MAX(l.score_date) FROM {condition_scores} AS l);
