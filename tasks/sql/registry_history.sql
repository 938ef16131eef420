-- The 50 newest models of the registry, for the model-history artifact (no artifact URIs or
-- params: versions, cut-offs, AUC and status are what a reader needs). The LIMIT sits in a
-- subquery because Redshift's UNLOAD refuses one in the outer SELECT, and an UNLOAD does not
-- keep an ORDER BY: the reader sorts (tasks/run_report.py read_history).
SELECT model_version, trained_at, train_end_date, n_train, auc, status, flow_run_id
FROM (
    SELECT model_version, trained_at, train_end_date, n_train, auc, status, flow_run_id
    FROM {model_registry}
    ORDER BY trained_at DESC
    LIMIT 50
) AS newest
