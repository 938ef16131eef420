"""tasks/tree_shap.py: the grouped TreeSHAP equals LightGBM's own pred_contrib of every row, for
every kind of split and missing value LightGBM has, including values exactly on a threshold;
when grouping is wrong, the checks catch it and the answer is pred_contrib's."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from tasks.tree_shap import (
    direction_bytes,
    one_of_each,
    parse_trees,
    pattern_keys,
    shapley_weights,
    tree_shap,
    unwound_sums,
)

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
    """Categories in another order, one the booster never saw ("z") and missing ones: read as
    LightGBM reads them (its own categories' codes; an unseen one is missing, and goes right)."""
    rng = np.random.default_rng(9)
    train = _frame(rng, 2000, False)
    booster = _booster(train, rng)
    rows = _frame(rng, 800, False)
    reordered = rows.copy()
    labels = np.where(rng.random(len(rows)) < 0.1, "z", rows["dept"].astype(str))
    labels[rng.random(len(rows)) < 0.1] = None
    reordered["dept"] = pd.Categorical(labels, categories=["z", *CATEGORIES[::-1]])
    expected = booster.predict(reordered, pred_contrib=True, num_threads=1)

    got = tree_shap(booster, reordered, num_threads=1)

    assert got.method == "grouped"
    np.testing.assert_allclose(got.values, expected, rtol=0, atol=1e-12)


def test_paths_testing_a_feature_twice_are_covered():
    """The cases above exercise what the arithmetic handles specially: a path testing one
    feature at several nodes (its agreement is the AND of them), categorical nodes, and leaves
    whose paths test several distinct features."""
    rng = np.random.default_rng(5)
    trees = parse_trees(_booster(_frame(rng, 1500, True), rng))
    steps = [np.diff(np.append(t.node_starts, len(t.path_nodes))) for t in trees]
    assert max(int(s.max()) for s in steps) >= 2
    assert any(t.categorical for t in trees)
    assert max(int(t.leaf_sizes.max()) for t in trees) >= 3


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8])
def test_unwound_sums_equal_the_shapley_sum_over_subsets(k):
    """unwound_sums against the sum it stands for, by brute force over every subset S of the
    other features: (o_i - z_i) * sum_S |S|! (k-|S|-1)! / k! * prod_S o_j * prod_rest z_j."""
    rng = np.random.default_rng(k)
    entries = 40
    zero = rng.uniform(0.01, 1.0, (entries, k))
    one = (rng.random((entries, k)) < 0.5).astype(float)
    weights = shapley_weights(k)[np.full(entries, k)][:, :k]

    got = unwound_sums(zero, one, weights)

    expected = np.zeros((entries, k))
    for e, i in itertools.product(range(entries), range(k)):
        others = [j for j in range(k) if j != i]
        total = 0.0
        for size in range(k):
            for subset in itertools.combinations(others, size):
                weight = math.factorial(size) * math.factorial(k - size - 1) / math.factorial(k)
                rest = [j for j in others if j not in subset]
                total += weight * np.prod(one[e, list(subset)]) * np.prod(zero[e, rest])
        expected[e, i] = (one[e, i] - zero[e, i]) * total
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_trees_without_a_split_give_only_their_value_to_the_bias():
    rng = np.random.default_rng(4)
    train = _frame(rng, 600, True)
    booster = _booster(train, rng, min_gain_to_split=1e9)  # no split is ever worth making
    rows = _frame(rng, 50, True)
    expected = booster.predict(rows, pred_contrib=True, num_threads=1)

    got = tree_shap(booster, rows, num_threads=1)

    assert got.method == "grouped"
    assert not got.values[:, :-1].any()
    np.testing.assert_allclose(got.values, expected, rtol=0, atol=1e-12)


def test_no_rows():
    rng = np.random.default_rng(1)
    booster = _booster(_frame(rng, 500, False), rng)
    got = tree_shap(booster, _frame(rng, 0, False), num_threads=1)
    assert got.values.shape == (0, 5)


def test_the_check_uses_a_given_raw_score_and_a_wrong_one_gives_pred_contrib():
    """A raw score passed in (scoring's own margin) is what the sums are checked against: one
    that is not the booster's makes the call fall back to pred_contrib, never pass."""
    rng = np.random.default_rng(12)
    train = _frame(rng, 1500, True)
    booster = _booster(train, rng)
    rows = _frame(rng, 400, True)
    expected = booster.predict(rows, pred_contrib=True, num_threads=1)
    raw = booster.predict(rows, raw_score=True, num_threads=1)

    right = tree_shap(booster, rows, num_threads=1, raw_score=raw)
    wrong = tree_shap(booster, rows, num_threads=1, raw_score=raw + 1e-6)

    assert right.method == "grouped"
    assert wrong.method == "row by row (400 rows do not sum to the raw score)"
    np.testing.assert_allclose(wrong.values, expected, rtol=0, atol=1e-12)


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


def test_the_hashed_key_path_gives_the_same_values(monkeypatch):
    """Trees whose (leaf, agreement bits) keys could exceed DENSE_KEYS are factorised by a hash
    instead of a table: forced here for every tree, the values are still pred_contrib's."""
    import tasks.tree_shap as module

    rng = np.random.default_rng(6)
    train = _frame(rng, 1500, True)
    booster = _booster(train, rng)
    rows = _frame(rng, 600, True)
    expected = booster.predict(rows, pred_contrib=True, num_threads=1)
    monkeypatch.setattr(module, "DENSE_KEYS", 0)

    got = tree_shap(booster, rows, num_threads=1)

    assert got.method == "grouped"
    np.testing.assert_allclose(got.values, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("nodes", [0, 1, 8, 9, 32, 33, 64, 65, 80])
def test_pattern_keys_are_equal_exactly_for_rows_branching_alike(nodes):
    """direction_bytes packs 8 nodes to a byte, pattern_keys the bytes into a uint32 (up to 32 nodes), a
    uint64 (up to 64) or else sorts the bytes: at each boundary, two rows get one key exactly
    when their directions agree at every node. Rows repeat a few patterns, and each pattern is
    also changed at every single node in turn (the last node's bit included)."""
    rng = np.random.default_rng(nodes)
    base = rng.random((6, nodes)) < 0.5
    flipped = np.repeat(base, nodes, axis=0)
    flipped[np.arange(len(flipped)), np.tile(np.arange(nodes), 6)] ^= True
    directions = np.concatenate([base[rng.integers(0, 6, 200)], flipped, base])
    n = len(directions)
    left = np.zeros((nodes, -(-n // 8) * 8), dtype=bool)  # as directions() pads it
    left[:, :n] = directions.T

    keys = pattern_keys(direction_bytes(left), n)

    same_key = keys[:, None] == keys[None, :]
    same_directions = (directions[:, None, :] == directions[None, :, :]).all(axis=2)
    assert len(keys) == n
    np.testing.assert_array_equal(same_key, same_directions)


@pytest.mark.parametrize(("leaves", "deepest_path"), [(33, 1), (34, 1), (90, 9)])
def test_big_trees_with_long_paths_equal_pred_contrib(leaves, deepest_path):
    """Trees of 32, 33 and 89 split nodes (a uint32 key, a uint64 key, sorted bytes:
    pattern_keys), the biggest with a path testing 9 or more features (the leaf agreement bits
    need a second byte, tree_values)."""
    rng = np.random.default_rng(7)
    n, width = 3000, 12
    train = pd.DataFrame({f"f{i}": rng.normal(0, 1, n) for i in range(width)})
    train.loc[rng.random(n) < 0.1, "f3"] = np.nan
    logit = (
        train.fillna(0).to_numpy() @ rng.normal(0, 1, width) + np.sin(3 * train["f0"]) * train["f1"]
    )
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    params = {
        "objective": "binary",
        "num_leaves": leaves,
        "min_data_in_leaf": 3,
        "min_sum_hessian_in_leaf": 0,
        "verbosity": -1,
        "num_threads": 1,
        "seed": 1,
    }
    booster = lgb.train(params, lgb.Dataset(train, label), num_boost_round=6)
    trees = parse_trees(booster)
    assert {tree.split_nodes for tree in trees} == {leaves - 1}
    assert max(int(tree.leaf_sizes.max()) for tree in trees) >= deepest_path
    rows = pd.DataFrame({f"f{i}": np.round(rng.normal(0, 1, 800), 1) for i in range(width)})
    expected = booster.predict(rows, pred_contrib=True, num_threads=1)

    got = tree_shap(booster, rows, num_threads=1)

    assert got.method == "grouped"
    np.testing.assert_allclose(got.values, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.uint32, np.uint64, np.int64])
def test_one_of_each_groups_rows_by_key(dtype):
    """Each row's group stands for a row with the same key, and the groups' rows have distinct
    keys: rows share a group exactly when they share a key (the key dtypes pattern_keys gives)."""
    rng = np.random.default_rng(2)
    keys = rng.choice(np.array([0, 1, 7, 2**31 + 5, 2**32 - 1], dtype=dtype), 500)

    row, group = one_of_each(keys)

    np.testing.assert_array_equal(keys[row[group]], keys)
    assert len(np.unique(keys[row])) == len(row) == 5
