-- The offending keys of every source check, one row per offending row (or duplicated key):
-- table_name, column_name, problem, employee_id, survey_month. A fragment: source_checks.sql
-- counts it and names the first key per problem, source_issues_insert.sql stores every key in
-- source_issues. Survey rows are checked inside [:data_start_month, :data_end_next) (the months
-- the run reads, at any time of day); future months and NULL keys in the whole table. Keep the
-- conditions identical to source_profile.sql, which counts the same problems every night.
-- No WITH clause: it is included as a subquery.
    SELECT 'survey_responses' AS table_name, 'work_score' AS column_name,
           'range' AS problem, employee_id, survey_month
    FROM {survey_responses}
    WHERE survey_month >= CAST(:data_start_month AS DATE)
      AND survey_month < CAST(:data_end_next AS DATE)
      AND (work_score < 0 OR work_score > 10)
    UNION ALL
    SELECT 'survey_responses', 'relationship_score', 'range', employee_id, survey_month
    FROM {survey_responses}
    WHERE survey_month >= CAST(:data_start_month AS DATE)
      AND survey_month < CAST(:data_end_next AS DATE)
      AND (relationship_score < 0 OR relationship_score > 10)
    UNION ALL
    SELECT 'survey_responses', 'health_score', 'range', employee_id, survey_month
    FROM {survey_responses}
    WHERE survey_month >= CAST(:data_start_month AS DATE)
      AND survey_month < CAST(:data_end_next AS DATE)
      AND (health_score < 0 OR health_score > 10)
    UNION ALL
    SELECT 'survey_responses', 'survey_month', 'not_month_start', employee_id, survey_month
    FROM {survey_responses}
    WHERE survey_month >= CAST(:data_start_month AS DATE)
      AND survey_month < CAST(:data_end_next AS DATE)
      AND EXTRACT(DAY FROM survey_month) <> 1
    UNION ALL
    SELECT 'survey_responses', 'survey_month', 'time_of_day', employee_id, survey_month
    FROM {survey_responses}
    WHERE survey_month >= CAST(:data_start_month AS DATE)
      AND survey_month < CAST(:data_end_next AS DATE)
      AND survey_month <> CAST(survey_month AS DATE)
    UNION ALL
    SELECT 'survey_responses', 'employee_id, survey_month', 'duplicate', employee_id, survey_month
    FROM {survey_responses}
    WHERE survey_month >= CAST(:data_start_month AS DATE)
      AND survey_month < CAST(:data_end_next AS DATE)
    GROUP BY employee_id, survey_month
    HAVING COUNT(*) > 1
    UNION ALL
    SELECT 'survey_responses', 'employee_id', 'null', employee_id, survey_month
    FROM {survey_responses} WHERE employee_id IS NULL
    UNION ALL
    SELECT 'survey_responses', 'survey_month', 'null', employee_id, survey_month
    FROM {survey_responses} WHERE survey_month IS NULL
    UNION ALL
    SELECT 'survey_responses', 'survey_month', 'future', employee_id, survey_month
    FROM {survey_responses} WHERE survey_month > CAST(:horizon AS DATE)
    UNION ALL
    SELECT 'employees', 'employee_id', 'null', employee_id, CAST(NULL AS DATE)
    FROM {employees} WHERE employee_id IS NULL
    UNION ALL
    SELECT 'employees', 'hired_on', 'null', employee_id, CAST(NULL AS DATE)
    FROM {employees} WHERE hired_on IS NULL
    UNION ALL
    SELECT 'employees', 'hired_on', 'time_of_day', employee_id, CAST(NULL AS DATE)
    FROM {employees} WHERE hired_on <> CAST(hired_on AS DATE)
    UNION ALL
    SELECT 'employees', 'left_on', 'time_of_day', employee_id, CAST(NULL AS DATE)
    FROM {employees} WHERE left_on <> CAST(left_on AS DATE)
    UNION ALL
    SELECT 'employees', 'employee_id', 'duplicate', employee_id, CAST(NULL AS DATE)
    FROM {employees}
    GROUP BY employee_id
    HAVING COUNT(*) > 1
