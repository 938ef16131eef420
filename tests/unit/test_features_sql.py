"""Feature and label SQL on the embedded DuckDB, against values worked out by hand."""

import pytest

from tests.support.feature_checks import (
    check_current_features_match,
    check_leave_month_boundary,
    check_no_leakage,
    check_scoring_frame,
    check_training_frame,
)

pytestmark = pytest.mark.unit


def test_training_features_and_labels(duck):
    check_training_frame(duck)


def test_scoring_frame_covers_every_active_employee(duck):
    check_scoring_frame(duck)


def test_scoring_features_use_no_data_after_the_feature_month(duck):
    check_no_leakage(duck)


def test_scoring_features_equal_training_features_of_the_same_month(duck):
    check_current_features_match(duck)


def test_leave_label_at_the_month_boundary(duck):
    check_leave_month_boundary(duck)
