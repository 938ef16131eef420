-- A latest_condition_scores view created before its reasons columns, dropped so that
-- create_result_tables.sql can create it again (Redshift's CREATE OR REPLACE VIEW keeps the
-- columns as they were). Run only when the view lacks reason_1 (tasks/registry.py).
DROP VIEW IF EXISTS {latest_condition_scores}
