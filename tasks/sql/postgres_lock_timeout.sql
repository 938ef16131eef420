-- dialect: postgresql-only (never sent to Redshift: tests/unit/test_redshift_lint.py)
-- Bound the wait for the partition lock that follows (PULSEWATCH_LOCK_TIMEOUT_SECONDS), for
-- the rest of this transaction only: after it the server cancels the wait itself (55P03).
SELECT set_config('lock_timeout', :timeout, true)
