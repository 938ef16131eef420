-- A run id's earlier keys (a retried task records them again).
DELETE FROM {source_issues} WHERE flow_run_id = :flow_run_id
