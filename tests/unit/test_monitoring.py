"""Model health on the embedded DuckDB: realized performance, drift, the product view."""

import numpy as np
import pytest

from tasks.drift import bin_counts, edges_of, psi
from tests.support.monitoring_checks import (
    check_demo_realized_auc,
    check_drift,
    check_planted_performance,
    check_readme_queries,
)

pytestmark = pytest.mark.unit


def test_bins_and_psi_by_hand():
    values = np.array([0.0, 1.0, 1.0, 2.0, np.nan])
    assert bin_counts(values, [0.5, 1.5]).tolist() == [1, 2, 1, 1]  # last: missing
    assert edges_of(np.array([0.0, 1.0] * 50)) == [0.0, 1.0]
    assert psi([0.5, 0.5], [50, 50]) == 0.0
    # (0.9 - 0.5) ln(0.9 / 0.5) + (0.1 - 0.5) ln(0.1 / 0.5)
    assert psi([0.5, 0.5], [90, 10]) == pytest.approx(0.4 * np.log(1.8) - 0.4 * np.log(0.2))


def test_planted_performance(duck):
    check_planted_performance(duck)


def test_drift_of_a_shifted_feature(duck, tmp_path):
    check_drift(duck, tmp_path)


def test_demo_realized_auc_near_validation_auc_and_the_readme_queries(duck, tmp_path):
    check_demo_realized_auc(duck, tmp_path)
    check_readme_queries(duck)


def test_the_readme_queries_pass_the_redshift_lint():
    from tests.support.monitoring_checks import readme_queries
    from tests.support.redshift_lint import lint

    queries = readme_queries()
    assert len(queries) == 4
    assert {q[:40]: [str(f) for f in lint(q.strip().rstrip(";"))] for q in queries} == {
        q[:40]: [] for q in queries
    }
