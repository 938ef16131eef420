-- The current champion (exactly one is expected; more is a broken registry).
SELECT model_version, trained_at, train_end_date, n_train, auc, params, artifact_uri,
       artifact_sha256, status, flow_run_id
FROM {model_registry}
WHERE status = 'champion'
