"""tasks/feature_store.py: a feature month's snapshot is built once, reused while its source rows
and the feature SQL are unchanged, rebuilt when either changes, and a duplicate key planted since
refuses the rebuild leaving the previous snapshot whole (tests/support/feature_checks.py,
check_feature_snapshots), on each warehouse.

Elsewhere: two concurrent builds of one month build it once
(tests/faults/test_lost_connection_and_concurrency.py), the snapshot built inside Redshift and
read by scoring (tests/integration/test_aws_paths.py), the scoring frames it streams
(tests/unit/test_scoring.py)."""

import pytest

from tests.support.feature_checks import check_feature_snapshots


@pytest.mark.unit
def test_feature_snapshot_is_reused_until_its_source_rows_change(duck):
    check_feature_snapshots(duck)


@pytest.mark.integration
def test_feature_snapshot_is_reused_until_its_source_rows_change_on_postgres(pg):
    check_feature_snapshots(pg)
