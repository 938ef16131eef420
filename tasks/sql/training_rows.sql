-- Survey rows in the months a training run reads as labelled feature months: an upper bound
-- on its training rows (population x months), cheap enough for `pulsewatch doctor`.
SELECT COUNT(*) AS survey_rows
FROM {survey_responses}
WHERE survey_month >= CAST(:first_month AS DATE)
  AND survey_month <= CAST(:last_month AS DATE)
