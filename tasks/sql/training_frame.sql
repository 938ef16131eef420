-- Labelled training rows for feature months in [:first_month, :last_month]; the label and the
-- rows kept are defined once, in labelled_rows.sql. The caller passes :data_end_month =
-- :last_month + 1 month, the last month whose survey is complete before the training cut-off,
-- so every label is observable at training time.
WITH monthly AS (
{monthly}
),
features AS (
{features}
),
labelled AS (
{labelled_rows}
)
SELECT * FROM labelled
ORDER BY feature_month, employee_id
