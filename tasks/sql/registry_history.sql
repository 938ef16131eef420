-- The model registry, newest first, for the model-history artifact (no artifact URIs or
-- params: versions, cut-offs, AUC and status are what a reader needs).
SELECT model_version, trained_at, train_end_date, n_train, auc, status, flow_run_id
FROM {model_registry}
ORDER BY trained_at DESC
LIMIT 50
