-- Runs in the same transaction as the insert of the new champion.
UPDATE {model_registry} SET status = 'retired' WHERE status = 'champion'
