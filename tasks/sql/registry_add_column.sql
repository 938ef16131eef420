-- Migration of a model_registry created before the column existed (one column per statement:
-- Redshift adds one at a time and has no ADD COLUMN IF NOT EXISTS, so the caller probes first).
ALTER TABLE {model_registry} ADD COLUMN {column} {column_type}
