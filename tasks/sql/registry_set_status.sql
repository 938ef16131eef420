-- `pulsewatch models promote | retire`: one model's new status, inside the registry's lock.
UPDATE {model_registry}
SET status = :status, promoted_at = :promoted_at, retired_at = :retired_at,
    replaced_by = :replaced_by
WHERE model_version = :model_version
