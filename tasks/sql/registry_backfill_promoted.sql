-- Migration: rows written before promoted_at existed. A champion or retired model was promoted
-- when it was trained (the only way to champion then); when it was retired is unknown, so a
-- retired one keeps replaced_by NULL and scores no past date (train as of that date instead).
UPDATE {model_registry}
SET promoted_at = trained_at
WHERE promoted_at IS NULL AND status IN ('champion', 'retired')
