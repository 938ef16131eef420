-- Realized performance of the scores written for score dates in [:first_score_date,
-- :last_score_date] (all in one month, so all of feature month :first_month = :last_month),
-- computed inside the warehouse: only one row per (score_date, model_version, metric) is
-- written, no score or label leaves it. Runs in the transaction that first deleted those dates'
-- rows (tasks/monitoring.py). The labels are labelled_rows.sql's, the training label itself.
-- Only scored employees with a label count (n): new hires without a survey row in the feature
-- month and employees whose next month is unobservable have no label.
--   auc                Mann-Whitney: (sum of the positives' score ranks - P(P+1)/2) / (P * N),
--                      tied scores getting their average rank; NULL unless both classes occur
--   precision_top5/10  share of positives among the ceil(5% / 10% of n) highest scores
--   recall_top5/10     positives among them / all positives (NULL without positives);
--                      ties at the cut broken by employee_id, so the result is deterministic
--   brier              mean of (risk_score - label)^2
--   mean_predicted     mean risk_score;  observed_rate  mean label
INSERT INTO {model_performance} (score_date, model_version, metric, value, n, computed_at)
WITH monthly AS (
{monthly}
),
features AS (
{features}
),
labelled AS (
{labelled_rows}
),
scored AS (
    SELECT
        s.score_date,
        s.model_version,
        s.employee_id,
        s.risk_score,
        CAST(l.label AS DOUBLE PRECISION) AS label
    FROM {condition_scores} AS s
    JOIN labelled AS l ON l.employee_id = s.employee_id
    WHERE s.score_date >= CAST(:first_score_date AS DATE)
      AND s.score_date <= CAST(:last_score_date AS DATE)
),
ranked AS (
    SELECT
        score_date,
        model_version,
        risk_score,
        label,
        CAST(RANK() OVER (
                PARTITION BY score_date, model_version ORDER BY risk_score) AS DOUBLE PRECISION)
        + CAST(COUNT(*) OVER (
                PARTITION BY score_date, model_version, risk_score) - 1 AS DOUBLE PRECISION) / 2
            AS score_rank,
        ROW_NUMBER() OVER (
            PARTITION BY score_date, model_version ORDER BY risk_score DESC, employee_id)
            AS position,
        CAST(COUNT(*) OVER (PARTITION BY score_date, model_version) AS DOUBLE PRECISION)
            AS group_rows
    FROM scored
),
totals AS (
    SELECT
        score_date,
        model_version,
        COUNT(*) AS n,
        SUM(label) AS positives,
        SUM(risk_score) AS score_sum,
        SUM((risk_score - label) * (risk_score - label)) AS squared_error,
        SUM(label * score_rank) AS positive_rank_sum,
        CAST(MAX(CEILING(0.05 * group_rows)) AS DOUBLE PRECISION) AS top5_rows,
        SUM(CASE WHEN position <= CEILING(0.05 * group_rows) THEN label ELSE 0 END)
            AS top5_positives,
        CAST(MAX(CEILING(0.10 * group_rows)) AS DOUBLE PRECISION) AS top10_rows,
        SUM(CASE WHEN position <= CEILING(0.10 * group_rows) THEN label ELSE 0 END)
            AS top10_positives
    FROM ranked
    GROUP BY score_date, model_version
),
metrics AS (
    SELECT score_date, model_version, 'auc' AS metric,
           CASE WHEN positives > 0 AND positives < n
                THEN (positive_rank_sum - positives * (positives + 1) / 2)
                     / (positives * (n - positives)) END AS value,
           n
    FROM totals
    UNION ALL
    SELECT score_date, model_version, 'precision_top5', top5_positives / top5_rows, n FROM totals
    UNION ALL
    SELECT score_date, model_version, 'recall_top5',
           CASE WHEN positives > 0 THEN top5_positives / positives END, n
    FROM totals
    UNION ALL
    SELECT score_date, model_version, 'precision_top10', top10_positives / top10_rows, n
    FROM totals
    UNION ALL
    SELECT score_date, model_version, 'recall_top10',
           CASE WHEN positives > 0 THEN top10_positives / positives END, n
    FROM totals
    UNION ALL
    SELECT score_date, model_version, 'brier', squared_error / n, n FROM totals
    UNION ALL
    SELECT score_date, model_version, 'mean_predicted', score_sum / n, n FROM totals
    UNION ALL
    SELECT score_date, model_version, 'observed_rate', positives / n, n FROM totals
)
SELECT
    score_date,
    model_version,
    metric,
    CAST(value AS DOUBLE PRECISION),
    n,
    CAST(:computed_at AS TIMESTAMP)
FROM metrics
