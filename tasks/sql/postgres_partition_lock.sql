-- dialect: postgresql-only (never sent to Redshift: tests/unit/test_redshift_lint.py)
-- PostgreSQL: serialise writers of one logical partition until the transaction ends.
-- :key is Warehouse.lock_key(table, key) (schema, table and partition key).
SELECT pg_advisory_xact_lock(hashtext(:key))
