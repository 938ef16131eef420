-- Record a freshly built snapshot (after feature_snapshot_delete.sql, in the same transaction).
INSERT INTO {feature_snapshots} (
    feature_month, source_fingerprint, n_employees, built_at, flow_run_id
) VALUES (
    :feature_month, :source_fingerprint, :n_employees, :built_at, :flow_run_id
)
