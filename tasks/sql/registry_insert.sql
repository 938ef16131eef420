INSERT INTO {model_registry} (
    model_version, trained_at, train_end_date, n_train, auc, params, artifact_uri,
    artifact_sha256, status, flow_run_id, promoted_at, retired_at, replaced_by
) VALUES (
    :model_version, :trained_at, :train_end_date, :n_train, :auc, :params, :artifact_uri,
    :artifact_sha256, :status, :flow_run_id, :promoted_at, :retired_at, :replaced_by
)
