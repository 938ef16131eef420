-- How many probe rows the COPY loaded into the doctor's temp table.
SELECT COUNT(*) AS probe_rows FROM {stage} WHERE probe = 1
