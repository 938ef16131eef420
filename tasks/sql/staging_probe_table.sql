-- The doctor's one-column temp table the probe row is COPYed into (gone with the session).
CREATE TEMP TABLE {stage} (probe INTEGER)
