-- The one row `pulsewatch doctor` sends through the staging path (UNLOAD, then COPY back).
SELECT CAST(1 AS INTEGER) AS probe
