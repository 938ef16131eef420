-- Rows stored in one partition, checked before the write commits.
SELECT COUNT(*) FROM {table} WHERE {column} = :value
