"""tasks/tree_shap.py: the grouped TreeSHAP equals LightGBM's own pred_contrib of every row, for
every kind of split and missing value LightGBM has, including values exactly on a threshold;
when grouping is wrong, the checks catch it and the answer is pred_contrib's."""

from __future__ import annotations

from dataclasses import replace

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from tasks.tree_shap import parse_trees, tree_shap

pytestmark = pytest.mark.unit

CATEGORIES = ["a", "b", "c", "d", "e"]


def _frame(rng: np.random.Generator, n: int, missing: bool) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "score": rng.integers(1, 6, n).astype(float),  # few values: many shared patterns
            "trend": np.round(rng.normal(0, 1, n), 1),
            "zeroish": np.where(rng.random(n) < 0.3, 0.0, rng.normal(0, 1, n)),
            "dept": pd.Categorical(rng.choice(CATEGORIES, n), categories=CATEGORIES),
        }
    )
    if missing:
        frame.loc[rng.random(n) < 0.1, "trend"] = np.nan
        frame.loc[rng.random(n) < 0.1, "dept"] = None
    return frame


def _booster(frame: pd.DataFrame, rng: np.random.Generator, **params) -> lgb.Booster:
    logit = (frame["score"] - 3 + 1.5 * frame["trend"].fillna(0) + frame["zeroish"]) + frame[
        "dept"
    ].cat.codes.isin([1, 3]) * 1.2
    label = (rng.random(len(frame)) < 1 / (1 + np.exp(-logit))).astype(int)
    dataset = lgb.Dataset(frame, label, categorical_feature=["dept"])
    base = {
        "objective": "binary",
        "num_leaves": 15,
        "min_data_in_leaf": 5,
        "min_data_per_group": 5,
        "cat_smooth": 1,
        "verbosity": -1,
        "num_threads": 1,
        "seed": 3,
    }
    return lgb.train({**base, **params}, dataset, num_boost_round=15)


def _on_thresholds(booster: lgb.Booster, frame: pd.DataFrame) -> pd.DataFrame:
    """Rows whose values sit exactly on the model's thresholds and one float step either side."""
    features, values = [], []
    for tree in parse_trees(booster):
        for feature, threshold in zip(tree.features, tree.thresholds, strict=True):
            for value in (
                np.nextafter(threshold, -np.inf),
                threshold,
                np.nextafter(threshold, np.inf),
            ):
                features.append(feature)
                values.append(value)
    edge = frame.iloc[np.arange(len(values)) % len(frame)].reset_index(drop=True)
    for feature in set(features):
        name = edge.columns[feature]
        at = np.flatnonzero(np.array(features) == feature)
        edge[name] = edge[name].astype(float)
        edge.loc[at, name] = np.array(values)[at]
    return edge


@pytest.mark.parametrize(
    ("params", "missing"),
    [
        ({}, True),  # missing type NaN: NaN goes the learned default way
        ({"zero_as_missing": True}, True),  # missing type Zero: zero and NaN go the default way
        ({"use_missing": False}, True),  # missing type None: NaN is scored as 0
        ({}, False),
    ],
)
def test_grouped_equals_pred_contrib_row_by_row(params, missing):
    rng = np.random.default_rng(5)
    train = _frame(rng, 1500, missing)
    booster = _booster(train, rng, **params)
    rows = pd.concat(
        [_frame(rng, 1000, missing), _on_thresholds(booster, train)], ignore_index=True
    )
    rows["dept"] = pd.Categorical(rows["dept"], categories=CATEGORIES)
    expected = booster.predict(rows, pred_contrib=True, num_threads=1)

    got = tree_shap(booster, rows, num_threads=1)

    assert got.method == "grouped"  # the checks passed: no fallback hides a wrong grouping
    assert got.groups < len(rows) * booster.num_trees() / 3  # rows did share patterns
    np.testing.assert_allclose(got.values, expected, rtol=0, atol=1e-12)


def test_the_parametrisation_covers_each_missing_type():
    """What the cases above claim: LightGBM chose missing type NaN (2) for the feature with NaN
    and None (0) for the others; Zero (1) everywhere with zero_as_missing; None without missing
    handling."""
    rng = np.random.default_rng(5)
    train = _frame(rng, 3000, True)
    seen = {}
    for name, params in {
        "NaN": {},
        "Zero": {"zero_as_missing": True},
        "None": {"use_missing": False},
    }.items():
        trees = parse_trees(_booster(train, rng, **params))
        seen[name] = {int(m) for tree in trees for m in tree.missing}
    assert seen == {"NaN": {0, 2}, "Zero": {1}, "None": {0}}


def test_a_wrong_grouping_is_caught_and_the_answer_is_pred_contrib():
    rng = np.random.default_rng(8)
    train = _frame(rng, 2000, True)
    booster = _booster(train, rng)
    rows = _frame(rng, 1500, True)
    expected = booster.predict(rows, pred_contrib=True, num_threads=1)
    trees = parse_trees(booster)
    # every numerical threshold moved: rows land in groups LightGBM does not put them in
    broken = [replace(tree, thresholds=tree.thresholds + 0.35) for tree in trees]

    got = tree_shap(booster, rows, num_threads=1, trees=broken)

    assert got.method.startswith("row by row (")
    np.testing.assert_allclose(got.values, expected, rtol=0, atol=1e-12)


def test_categories_not_in_the_boosters_order_still_give_pred_contrib():
    rng = np.random.default_rng(9)
    train = _frame(rng, 2000, False)
    booster = _booster(train, rng)
    rows = _frame(rng, 800, False)
    reordered = rows.copy()
    reordered["dept"] = reordered["dept"].cat.reorder_categories(CATEGORIES[::-1])
    expected = booster.predict(reordered, pred_contrib=True, num_threads=1)

    got = tree_shap(booster, reordered, num_threads=1)

    np.testing.assert_allclose(got.values, expected, rtol=0, atol=1e-12)


def test_no_rows():
    rng = np.random.default_rng(1)
    booster = _booster(_frame(rng, 500, False), rng)
    got = tree_shap(booster, _frame(rng, 0, False), num_threads=1)
    assert got.values.shape == (0, 5)


def test_model_contributions_group_from_the_threshold_on_and_equal_pred_contrib_either_way():
    """PulseModel.contributions: below ROW_BY_ROW_BELOW rows LightGBM's pred_contrib of every
    row (cheaper there), from it on the grouped TreeSHAP; both are pred_contrib's values."""
    from tasks.model import ROW_BY_ROW_BELOW, model_matrix
    from tests.support.tiny_model import frame, tiny_model

    model = tiny_model()
    for n, method in (
        (ROW_BY_ROW_BELOW - 1, f"row by row (under {ROW_BY_ROW_BELOW} rows)"),
        (ROW_BY_ROW_BELOW, "grouped"),
    ):
        rows = frame(n, seed=3)
        got = model.contributions(rows)
        expected = model.booster.predict(
            model_matrix(rows, model.categories), pred_contrib=True, num_threads=1
        )
        assert got.method == method
        assert (got.groups > 0) == (method == "grouped")
        np.testing.assert_allclose(got.values, np.asarray(expected), rtol=0, atol=1e-9)
