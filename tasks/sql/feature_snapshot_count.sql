-- Rows of one feature month in employee_features.
SELECT COUNT(*) AS n FROM {employee_features} WHERE feature_month = :feature_month
