-- The current champion (exactly one is expected; more is a broken registry).
SELECT {registry_columns}
FROM {model_registry}
WHERE status = 'champion'
