-- Drop the doctor's temp table.
DROP TABLE {stage}
