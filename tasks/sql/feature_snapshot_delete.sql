-- Forget one feature month's snapshot (its rows and its record) before it is rebuilt.
DELETE FROM {employee_features} WHERE feature_month = :feature_month;
DELETE FROM {feature_snapshots} WHERE feature_month = :feature_month;
