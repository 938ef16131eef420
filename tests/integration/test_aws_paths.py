"""AWS paths offline: S3 model store, Redshift staging (COPY/UNLOAD) and IAM credentials,
against a moto server on loopback and the local PostgreSQL."""

from __future__ import annotations

import re
from datetime import date

import boto3
import pandas as pd
import pytest
import sqlalchemy as sa

from tasks.errors import ConfigError, ModelStoreError
from tasks.feature_store import forget_features, prepare_features, stream_scoring_frames
from tasks.features import TrainingWindow, extract_training_frame
from tasks.model_store import S3ModelStore, load_model, save_model
from tasks.registry import ensure_result_tables
from tasks.warehouse import warehouse_for_url
from tasks.warehouse.redshift_io import IamCredentialCache, iam_credentials, iam_target, unload_sql
from tests.support import sql_cases
from tests.support.feature_checks import scoring_frame
from tests.support.redshift_emulation import ROLE, s3_keys
from tests.unit.test_warehouse import scores, stored

pytestmark = pytest.mark.integration
DAY = date(2026, 11, 20)


def test_s3_model_store_round_trip_and_checksum(aws, tmp_path):
    from tasks.demo_data import write_demo_data
    from tasks.training import TrainingConfig, fit_model
    from tests.conftest import SMALL_DEMO

    with warehouse_for_url(f"duckdb:///{tmp_path}/w.duckdb") as duck:
        write_demo_data(duck, SMALL_DEMO)
        frame = extract_training_frame(duck, TrainingWindow.ending(DAY, 10))
    model = fit_model(frame, TrainingConfig(num_boost_round=5), DAY)

    store = S3ModelStore(f"s3://{aws}/models/prod")
    store.check_writable()
    saved = save_model(store, model, "m1")
    assert saved.uri == f"s3://{aws}/models/prod/m1/model.json"
    head = boto3.client("s3").head_object(Bucket=aws, Key="models/prod/m1/model.json")
    assert head["Metadata"]["sha256"] == saved.sha256
    assert load_model(store, saved).booster.num_trees() == 5

    boto3.client("s3").put_object(Bucket=aws, Key="models/prod/m1/model.json", Body=b"{}")
    with pytest.raises(ModelStoreError, match=r"^model m1: checksum mismatch"):
        load_model(store, saved)
    boto3.client("s3").delete_object(Bucket=aws, Key="models/prod/m1/model.json")
    with pytest.raises(ModelStoreError, match="is missing"):
        load_model(store, saved)
    assert s3_keys(aws) == []  # the write probe cleaned up after itself


def test_redshift_copy_swap_is_idempotent_and_cleans_up(redshift, pg, aws):
    ensure_result_tables(pg)
    batches = [scores(DAY, range(0, 600), 0.1), scores(DAY, range(600, 1000), 0.1)]
    assert redshift.replace_partition("condition_scores", "score_date", DAY, batches, 1000) == 1000
    assert (
        redshift.replace_partition(
            "condition_scores", "score_date", DAY, [scores(DAY, range(700), 0.3, "m2")], 700
        )
        == 700
    )
    after = stored(pg, DAY)
    assert len(after) == 700 and after.employee_id.is_unique and set(after.model_version) == {"m2"}
    assert s3_keys(aws) == []  # staged Parquet removed
    copy = redshift.statements[-1]
    assert re.fullmatch(
        rf"COPY \"?pw_stage_[0-9a-f]{{12}}\"? FROM 's3://{aws}/staging/load/condition_scores/"
        rf"2026-11-20/[0-9a-f]{{32}}/' IAM_ROLE '{ROLE}' FORMAT AS PARQUET",
        copy,
    ), copy


def test_redshift_failed_copy_keeps_previous_rows_and_cleans_up(redshift, pg, aws):
    ensure_result_tables(pg)
    redshift.replace_partition("condition_scores", "score_date", DAY, [scores(DAY, range(50), 0.1)])
    redshift.fail_copy = True
    with pytest.raises(RuntimeError, match="simulated COPY failure"):
        redshift.replace_partition(
            "condition_scores", "score_date", DAY, [scores(DAY, range(80), 0.9, "m2")]
        )
    after = stored(pg, DAY)
    assert len(after) == 50 and set(after.model_version) == {"m1"}
    assert s3_keys(aws) == []


def test_redshift_unload_extract_matches_postgres(redshift, pg, aws):
    sql_cases.load(pg)
    window = TrainingWindow.ending(sql_cases.TRAIN_END, 5)
    via_unload = extract_training_frame(redshift, window)
    direct = extract_training_frame(pg, window)
    key = ["employee_id", "feature_month"]
    pd.testing.assert_frame_equal(
        via_unload.sort_values(key).reset_index(drop=True),
        direct.sort_values(key).reset_index(drop=True),
    )
    unload = redshift.statements[-1]
    assert unload.startswith("UNLOAD ('WITH monthly AS (")
    assert "CAST(''2026-01-01'' AS DATE)" in unload  # bound dates inlined, quotes doubled
    assert "--" not in unload  # comments dropped from the quoted query
    assert unload.endswith(
        f"TO 's3://{aws}/staging/unload/{unload.split('/staging/unload/')[1].split('/')[0]}/' "
        f"IAM_ROLE '{ROLE}' FORMAT AS PARQUET ALLOWOVERWRITE MAXFILESIZE 256 MB"
    )
    assert s3_keys(aws) == []


def test_unload_quoting():
    sql = "SELECT 'a' AS x -- note\n-- whole line\nFROM t"
    assert unload_sql(sql, "s3://b/p/", ROLE) == (
        "UNLOAD ('SELECT ''a'' AS x -- note\nFROM t') TO 's3://b/p/' "
        f"IAM_ROLE '{ROLE}' FORMAT AS PARQUET ALLOWOVERWRITE MAXFILESIZE 256 MB"
    )


def test_bad_staging_or_role_is_refused():
    with pytest.raises(ConfigError, match="PULSEWATCH_REDSHIFT_IAM_ROLE: not an IAM role ARN"):
        warehouse_for_url(
            "redshift+psycopg2://u:p@h:5439/d", s3_staging="s3://bkt/p", iam_role="x' --"
        )
    with pytest.raises(ConfigError, match="PULSEWATCH_S3_STAGING: not an s3://bucket/prefix URI"):
        warehouse_for_url(
            "redshift+psycopg2://u:p@h:5439/d", s3_staging="s3://bkt/it's", iam_role=ROLE
        )


def test_iam_temporary_credentials_from_moto(aws):
    boto3.client("redshift").create_cluster(
        ClusterIdentifier="pulsewatch",
        NodeType="ra3.xlplus",
        MasterUsername="admin",
        MasterUserPassword="Passw0rd-not-used",
        DBName="dev",
    )
    url = sa.make_url(
        "redshift+psycopg2://analyst@pulsewatch.c1a2b3.ap-northeast-1.redshift.amazonaws.com:5439/dev"
    )
    assert iam_target(url) == {
        "kind": "provisioned",
        "cluster": "pulsewatch",
        "region": "ap-northeast-1",
    }
    user, password, expires = iam_credentials(url)
    assert user == "IAM:analyst" and len(password) >= 8 and expires > 0

    cache = IamCredentialCache(url)
    first, second = {}, {}
    cache.apply(first)
    cache.apply(second)
    assert first == second and first["user"] == "IAM:analyst"  # reused until near expiry

    serverless = sa.make_url(
        "redshift+psycopg2://analyst@pw-wg.123456789012.us-east-1.redshift-serverless.amazonaws.com:5439/dev"
    )
    assert iam_target(serverless) == {
        "kind": "serverless",
        "workgroup": "pw-wg",
        "region": "us-east-1",
    }
    with pytest.raises(ConfigError, match="no cluster to ask for IAM credentials"):
        iam_target(sa.make_url("redshift+psycopg2://analyst@10.0.0.5:5439/dev"))


def test_redshift_feature_snapshot_builds_in_the_warehouse_and_scoring_reads_it(redshift, pg, aws):
    """The snapshot is built by INSERT … SELECT through the Redshift dialect (LOCK, no row
    leaves the warehouse), its fingerprint reads back equal through UNLOAD, and the scoring
    frame UNLOADed from it equals the one read directly on PostgreSQL."""
    sql_cases.load(pg)
    ensure_result_tables(pg)
    forget_features(pg)
    day = date(2026, 6, 15)
    first = prepare_features(redshift, day)
    assert (first.built, first.employees) == (True, 1)
    assert prepare_features(redshift, day).built is False  # same fingerprint via UNLOAD
    via_unload = pd.concat(stream_scoring_frames(redshift, day, 100))
    unload = redshift.statements[-1]
    assert unload.startswith("UNLOAD ('SELECT") and "employee_features" in unload
    direct = scoring_frame(pg, day)
    assert prepare_features(pg, day).built is False  # one snapshot, whichever path wrote it
    pd.testing.assert_frame_equal(
        via_unload.sort_values("employee_id").reset_index(drop=True), direct
    )
    assert s3_keys(aws) == []


def test_what_the_redshift_path_really_sends_passes_the_redshift_lint(
    redshift, pg, aws, monkeypatch
):
    """Beside the rendering of tests/support/redshift_lint.py: every statement the Redshift path sent in
    a training extract, a feature snapshot build, a scoring read and a score load (as psycopg2
    put it on the wire, plus the UNLOAD / COPY the emulation runs in their place) passes the
    lint, and no PostgreSQL-only .sql file is ever loaded on the way."""
    from tasks.warehouse import core
    from tests.support.redshift_lint import lint, postgresql_only

    loaded: list[str] = []
    real_load_sql = core.load_sql
    monkeypatch.setattr(core, "load_sql", lambda name: loaded.append(name) or real_load_sql(name))
    sent: list[str] = []

    @sa.event.listens_for(redshift.engine, "before_cursor_execute")
    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append(cursor.mogrify(statement, parameters).decode())

    sql_cases.load(pg)
    ensure_result_tables(redshift)
    extract_training_frame(redshift, TrainingWindow.ending(sql_cases.TRAIN_END, 5))
    day = date(2026, 6, 15)
    prepare_features(redshift, day)
    list(stream_scoring_frames(redshift, day, 100))
    redshift.replace_partition("condition_scores", "score_date", day, [scores(day, range(3), 0.1)])

    assert any(s.startswith("LOCK ") for s in sent) and any("INSERT INTO" in s for s in sent)
    assert {"training_frame", "feature_snapshot_insert", "scoring_frame"} <= set(loaded)
    assert not [name for name in loaded if postgresql_only(name)]
    # the emulation executes an UNLOAD's query itself (recorded above as a plain SELECT)
    wire = [s for s in sent if not s.startswith("SELECT pg_catalog")] + redshift.statements
    findings = {s[:80]: [str(f) for f in lint(s) if f.rule != "unload-order-by"] for s in wire}
    assert {k: v for k, v in findings.items() if v} == {}
