-- The stored snapshot record of one feature month (at most one row).
SELECT feature_month, source_fingerprint, n_employees, built_at
FROM {feature_snapshots}
WHERE feature_month = :feature_month
