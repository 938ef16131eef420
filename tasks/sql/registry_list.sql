-- Every registered model, newest first (`pulsewatch models list`).
SELECT {registry_columns}
FROM {model_registry}
ORDER BY trained_at DESC, model_version DESC
