-- The models that may score :score_date when the champion may not (it learned from data after
-- that date): trained with data up to :score_date at the latest, and passed the gate when they
-- were trained -- a former champion replaced by a later one, or a challenger (trained as of a
-- past date while a champion with a later cut-off existed). A model retired by hand
-- (`pulsewatch models retire`, replaced_by NULL) and a rejected one never score. Freshest first.
SELECT {registry_columns}
FROM {model_registry}
WHERE train_end_date <= :score_date
  AND (status = 'challenger' OR (status = 'retired' AND replaced_by IS NOT NULL))
ORDER BY train_end_date DESC, trained_at DESC
