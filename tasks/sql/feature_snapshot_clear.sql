-- Forget every feature snapshot (derived data): the next run rebuilds its month from the source
-- rows. Used to force a rebuild, e.g. after an edit the fingerprint cannot see.
DELETE FROM {employee_features};
DELETE FROM {feature_snapshots};
