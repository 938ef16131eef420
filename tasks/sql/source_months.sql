-- Survey rows per month inside the months a run reads (a handful of rows: one per month).
SELECT survey_month, COUNT(*) AS n_rows
FROM {survey_responses}
WHERE survey_month >= CAST(:data_start_month AS DATE)
  AND survey_month <= CAST(:data_end_month AS DATE)
GROUP BY survey_month
ORDER BY survey_month
