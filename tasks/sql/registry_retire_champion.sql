-- Runs in the same transaction as the promotion of the next champion (:replaced_by), or alone
-- when the champion is retired by hand (:replaced_by NULL).
UPDATE {model_registry}
SET status = 'retired', retired_at = :retired_at, replaced_by = :replaced_by
WHERE status = 'champion'
