INSERT INTO {model_registry} (
    model_version, trained_at, train_end_date, n_train, auc, params, artifact_uri,
    artifact_sha256, status, flow_run_id
) VALUES (
    :model_version, :trained_at, :train_end_date, :n_train, :auc, :params, :artifact_uri,
    :artifact_sha256, :status, :flow_run_id
)
