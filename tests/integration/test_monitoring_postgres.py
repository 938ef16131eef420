"""Model health on PostgreSQL and through the Redshift path (emulated on PostgreSQL, S3 on
moto): the same planted cases as on DuckDB (tests/unit/test_monitoring.py)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.conftest import POSTGRES_URL
from tests.integration.test_aws_paths import ROLE
from tests.support.monitoring_checks import (
    check_demo_realized_auc,
    check_drift,
    check_health_table,
    check_planted_performance,
)
from tests.support.redshift_emulation import PostgresEmulatedRedshift

pytestmark = pytest.mark.integration


@pytest.fixture
def fresh_pg(pg):
    """The session schema without earlier tests' monitoring rows."""
    with pg.engine.begin() as conn:
        for table in (
            "model_performance",
            "model_drift",
            "health_breaches",
            "employee_features",
            "feature_snapshots",
        ):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {pg.qualified(table)}"))
    return pg


def test_planted_performance_on_postgres(fresh_pg):
    check_planted_performance(fresh_pg)


def test_drift_of_a_shifted_feature_on_postgres(fresh_pg, tmp_path):
    check_drift(fresh_pg, tmp_path)


def test_health_breaches_on_postgres(fresh_pg):
    check_health_table(fresh_pg)


def test_demo_realized_auc_on_postgres(fresh_pg, tmp_path):
    check_demo_realized_auc(fresh_pg, tmp_path)


@pytest.fixture
def redshift(fresh_pg, aws):
    """The Redshift path (emulated on PostgreSQL, S3 staging on moto) in the same schema."""
    url = sa.make_url(POSTGRES_URL).set(drivername="redshift+psycopg2", password="unused")
    url = url.update_query_dict({"sslmode": "disable"})
    warehouse = PostgresEmulatedRedshift(
        url.render_as_string(hide_password=False),
        fresh_pg.schema,
        s3_staging=f"s3://{aws}/staging",
        iam_role=ROLE,
    )
    yield warehouse
    warehouse.close()


def test_planted_performance_through_the_redshift_path(redshift, fresh_pg):
    check_planted_performance(redshift, source=fresh_pg)
    assert any(s.startswith("COPY ") for s in redshift.statements)  # scores loaded via S3


def test_drift_through_the_redshift_path(redshift, fresh_pg, tmp_path):
    check_drift(redshift, tmp_path, source=fresh_pg)


def test_health_breaches_through_the_redshift_path(redshift, fresh_pg):
    check_health_table(redshift)
    assert any(s.startswith("COPY ") for s in redshift.statements)  # breaches loaded via S3
