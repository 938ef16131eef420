-- Remove one partition (e.g. one score_date) before it is written again.
DELETE FROM {table} WHERE {column} = :value
