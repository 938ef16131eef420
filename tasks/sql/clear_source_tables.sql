-- demo-data replaces earlier demo data: empty both source tables (inside one transaction).
DELETE FROM {survey_responses};
DELETE FROM {employees};
