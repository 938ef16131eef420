-- A small sample of a source table's columns, to check their types before any arithmetic
-- touches them (a text score column would otherwise fail deep inside features.sql).
-- The LIMIT sits in a subquery: Redshift UNLOAD refuses it in the outer SELECT.
SELECT s.* FROM (
    SELECT {columns} FROM {source} WHERE {not_null} LIMIT {limit}
) AS s
