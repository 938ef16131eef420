"""LightGBM's exact TreeSHAP contributions (`pred_contrib`) of many rows, computed per tree, leaf
and branch pattern instead of per tree and row.

Why this is hand-written rather than a plain `pred_contrib` call: LightGBM's TreeSHAP walks every
leaf of every tree for every row (Lundberg et al. 2018, "Consistent individualized feature
attribution for tree ensembles", Algorithm 2), about 1.6 ms of CPU per row for the 200-tree,
31-leaf model (~130x `predict`), so the reasons of the top 10% of a 1M-employee night cost 15x the
night (README, Benchmarks). No library offers a faster exact path for LightGBM (the `shap`
package's tree explainer runs the same algorithm). This module computes the same numbers from the
same tree (LightGBM's own dump: thresholds, leaf values, the data counts TreeSHAP weighs with),
and checks them against LightGBM on every call.

The arithmetic. Algorithm 2 adds, for each leaf l with value v and for each feature i tested on
the path to l,

    v * (o_i - z_i) * sum over S subset of U \\ {i} of  w(|S|, k) * prod_{j in S} o_j
                                                      * prod_{j in U \\ S \\ {i}} z_j

where U is the set of the k distinct features tested on the path, w(s, k) = s! (k-s-1)! / k!,
z_j is the product of the path's data-count ratios (child / parent) at its nodes testing j, and
o_j is 1 when the row goes the path's way at every one of those nodes, else 0 (the "unwound path
sum" of the paper). The sum is the coefficients of prod_{j != i} (z_j + o_j x) weighed by w, so a
leaf's term depends on the row only through its agreement bits (o_j) with that leaf's path.
That gives two groupings, both exact:
- per tree, rows that branch alike at every split node share all their agreement bits: one row
  per branch pattern stands for them (on the top decile of a 1M night, 6% of the (tree, row)
  pairs are distinct patterns);
- per leaf, patterns with the same agreement bits share the leaf's term: each distinct
  (leaf, bits) is computed once, for all patterns, as arrays.
The sum over trees is the sum of each tree's values, plus each tree's expected value (the
count-weighted mean of its leaf values) in the bias column, as LightGBM does.

Branch directions follow LightGBM's tree.h on the value its predictor reads (|x| <= kZeroThreshold
read as 0). Numerical: NaN is 0 unless the node's missing type is NaN; a missing value (zero for
missing type Zero, NaN for NaN) goes the default way; else left when value <= threshold.
Categorical: a NaN or negative value goes right, else left when the node lists the category.

Every call is checked against LightGBM: each row's values sum to the booster's raw score (a row
in the wrong leaf of any tree breaks the sum), and a spread sample of rows equals `pred_contrib`
of those rows. If either check fails, the result is `pred_contrib` of every row, and `method`
says so.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse

# LightGBM's kZeroThreshold (meta.h, the float 1e-35f): its predictor reads a value this close to
# zero as 0 (predictor.hpp keeps only |x| > it or NaN), before any node sees it.
ZERO_THRESHOLD = float(np.float32(1e-35))
SAMPLE_ROWS = 32  # rows checked against pred_contrib on every call
TOLERANCE = 1e-9  # log-odds; the sums differ from pred_contrib's only by float rounding
MISSING_TYPES = ("None", "Zero", "NaN")
MAX_PATH_FEATURES = 40  # a leaf's agreement bits and its index share one int64 key
DENSE_KEYS = 1 << 22  # up to this many possible (leaf, bits) keys per tree: a table, not a hash


@dataclass(frozen=True)
class Tree:
    """One tree: its split nodes (numerical ones, then categorical ones: the columns of a
    direction matrix) and, per leaf, its path as the arithmetic above needs it."""

    features: np.ndarray  # int, per numerical node
    thresholds: np.ndarray  # float64
    missing: np.ndarray  # index into MISSING_TYPES
    default_left: np.ndarray  # bool
    categorical: tuple[tuple[int, np.ndarray], ...]  # (feature, categories going left)
    expected: float  # count-weighted mean leaf value (the bias LightGBM adds per tree)
    leaf_values: np.ndarray  # per leaf (empty for a one-leaf tree)
    leaf_starts: np.ndarray  # per leaf: its first (leaf, feature) entry
    leaf_sizes: np.ndarray  # per leaf: k, the distinct features on its path
    path_features: np.ndarray  # per (leaf, feature) entry: the feature
    zero: np.ndarray  # per (leaf, feature) entry: z, the product of its count ratios
    node_starts: np.ndarray  # per (leaf, feature) entry: its first path step
    path_nodes: np.ndarray  # per path step (grouped by entry): the direction column
    path_left: np.ndarray  # per path step: whether the path goes left there

    @property
    def split_nodes(self) -> int:
        return len(self.features) + len(self.categorical)


@dataclass(frozen=True)
class Contributions:
    values: np.ndarray  # rows x (features + 1): per feature, then the bias
    method: str  # "grouped" or why it fell back to row by row
    groups: int  # (tree, branch pattern) pairs computed


def parse_trees(booster: lgb.Booster) -> list[Tree]:
    """Each tree of `booster`, from its JSON dump."""
    return parse_dump(booster.dump_model())


def parse_dump(dump: dict) -> list[Tree]:
    """Each tree of a booster's JSON dump (`Booster.dump_model()`): pure Python, no booster
    call, so it can run in another thread while the booster predicts."""
    return [_parse_tree(info["tree_structure"]) for info in dump["tree_info"]]


def _parse_tree(root: dict) -> Tree:
    numerical: list[tuple[int, float, int, bool]] = []
    categorical: list[tuple[int, np.ndarray]] = []
    leaves: list[tuple[dict, list[tuple[int, int, bool, float]]]] = []
    stack: list[tuple[dict, list[tuple[int, int, bool, float]]]] = [(root, [])]
    while stack:  # each path step: (feature, direction column, goes left, count ratio)
        node, path = stack.pop()
        if "split_feature" not in node:
            leaves.append((node, path))
            continue
        feature = int(node["split_feature"])
        if node["decision_type"] == "<=":
            column = len(numerical)
            missing = MISSING_TYPES.index(node["missing_type"])
            numerical.append((feature, float(node["threshold"]), missing, node["default_left"]))
        else:  # "==": the threshold lists the categories going left
            column = -1 - len(categorical)  # numbered after the numerical nodes below
            left = sorted(int(c) for c in str(node["threshold"]).split("||"))
            categorical.append((feature, np.array(left, dtype=np.int64)))
        for child, goes_left in ((node["left_child"], True), (node["right_child"], False)):
            count = child["internal_count"] if "split_feature" in child else child["leaf_count"]
            ratio = count / node["internal_count"]
            stack.append((child, [*path, (feature, column, goes_left, ratio)]))
    if len(leaves) == 1:
        leaves, expected = [], float(root["leaf_value"])
    else:
        total = root["internal_count"]
        expected = sum(leaf["leaf_count"] / total * leaf["leaf_value"] for leaf, _ in leaves)
    values: list[float] = []
    leaf_starts: list[int] = []
    leaf_sizes: list[int] = []
    path_features: list[int] = []
    zero: list[float] = []
    node_starts: list[int] = []
    path_nodes: list[int] = []
    path_left: list[bool] = []
    for leaf, path in leaves:
        values.append(float(leaf["leaf_value"]))
        leaf_starts.append(len(path_features))
        steps = sorted(path, key=lambda step: step[0])  # a feature's steps side by side
        for i, (feature, column, goes_left, ratio) in enumerate(steps):
            if i == 0 or steps[i - 1][0] != feature:
                path_features.append(feature)
                zero.append(ratio)
                node_starts.append(len(path_nodes))
            else:
                zero[-1] *= ratio
            path_nodes.append(column if column >= 0 else len(numerical) - 1 - column)
            path_left.append(goes_left)
        leaf_sizes.append(len(path_features) - leaf_starts[-1])
    ints = np.int64
    return Tree(
        features=np.array([n[0] for n in numerical], dtype=ints),
        thresholds=np.array([n[1] for n in numerical], dtype=np.float64),
        missing=np.array([n[2] for n in numerical], dtype=ints),
        default_left=np.array([n[3] for n in numerical], dtype=bool),
        categorical=tuple(categorical),
        expected=float(expected),
        leaf_values=np.array(values, dtype=np.float64),
        leaf_starts=np.array(leaf_starts, dtype=ints),
        leaf_sizes=np.array(leaf_sizes, dtype=ints),
        path_features=np.array(path_features, dtype=ints),
        zero=np.array(zero, dtype=np.float64),
        node_starts=np.array(node_starts, dtype=ints),
        path_nodes=np.array(path_nodes, dtype=ints),
        path_left=np.array(path_left, dtype=bool),
    )


@dataclass(frozen=True)
class Rows:
    """The rows to explain as the predictor reads them, column by column (Fortran order)."""

    x: np.ndarray  # float64; categorical columns as the booster's category codes, NaN if none
    x_nan_as_0: np.ndarray  # x with NaN read as 0 (missing types None and Zero)
    nan: np.ndarray  # bool, where x is NaN


def read_rows(booster: lgb.Booster, matrix: pd.DataFrame) -> Rows:
    """`matrix` as LightGBM's predictor reads it: categorical columns as codes of the booster's
    own categories (a category it never saw is NaN; lightgbm's pandas handling does the same),
    values within kZeroThreshold of 0 as 0."""
    trained = list(getattr(booster, "pandas_categorical", None) or [])
    columns = []
    for name in matrix.columns:
        column = matrix[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            if trained:
                categories = trained.pop(0)
                if list(column.cat.categories) != list(categories):
                    column = column.cat.set_categories(categories)
            codes = column.cat.codes.to_numpy().astype(np.float64)
            codes[codes < 0] = np.nan
            columns.append(codes)
        else:
            columns.append(column.to_numpy(dtype=np.float64, na_value=np.nan))
    x = np.empty((len(matrix), len(columns)), order="F")
    for j, column in enumerate(columns):
        x[:, j] = column
    x[np.abs(x) <= ZERO_THRESHOLD] = 0.0
    nan = np.isnan(x)
    return Rows(x, np.where(nan, 0.0, x), nan)


def _goes_left(tree: Tree, node: int, rows: Rows, out: np.ndarray) -> None:
    """Write into `out` whether each row goes left at split `node` (tree.h NumericalDecision /
    CategoricalDecision)."""
    if node >= len(tree.features):
        feature, left = tree.categorical[node - len(tree.features)]
        value = rows.x[:, feature]
        valid = value >= 0  # NaN and negative values go right
        codes = np.where(valid, value, -1).astype(np.int64)
        np.logical_and(valid, np.isin(codes, left), out=out)
        return
    feature, threshold = tree.features[node], tree.thresholds[node]
    missing, default_left = MISSING_TYPES[tree.missing[node]], tree.default_left[node]
    if missing == "NaN":  # NaN goes the default way; `<=` is False for it
        np.less_equal(rows.x[:, feature], threshold, out=out)
        if default_left:
            out |= rows.nan[:, feature]
        return
    value = rows.x_nan_as_0[:, feature]
    np.less_equal(value, threshold, out=out)
    if missing == "Zero":  # NaN is read as 0, and 0 goes the default way
        if default_left:
            out |= value == 0.0
        else:
            out &= value != 0.0


def directions(tree: Tree, rows: Rows) -> np.ndarray:
    """split nodes x rows, bool: whether each row goes left at each split node. Each node's row
    is contiguous, its length rounded up to whole 8-byte words (the padding is False), for
    pattern_keys."""
    n = len(rows.x)
    left = np.empty((tree.split_nodes, -(-n // 8) * 8), dtype=bool)
    left[:, n:] = False
    for node in range(tree.split_nodes):
        _goes_left(tree, node, rows, left[node, :n])
    return left


def direction_bytes(left: np.ndarray) -> np.ndarray:
    """(split nodes / 8, rounded up) x rows, uint8: `left` (directions()) 8 nodes to a byte,
    node 8b + i in bit i of byte b of its row.

    Packing takes 8 shifts and ORs of whole 64-bit words of `left`, 8 rows at a time (a bool is
    the byte 0 or 1, so the shifted bits never cross into the next row's byte): 1/8 of the work
    of doing it per row, which was 0.74 of 3.1 s of CPU on 95k rows x 200 trees."""
    nodes, padded = left.shape
    lanes = np.zeros((max(-(-nodes // 8), 1), padded // 8), dtype=np.uint64)
    words = left.view(np.uint64)  # node x (8 rows)
    shifted = np.empty(padded // 8, dtype=np.uint64)
    for node in range(nodes):
        np.left_shift(words[node], np.uint64(node % 8), out=shifted)
        lanes[node // 8] |= shifted
    return lanes.view(np.uint8)


def pattern_keys(lanes: np.ndarray, n: int) -> np.ndarray:
    """One integer per row, equal for two rows when they branch alike at every split node: the
    row's direction_bytes as one uint32 or uint64 (or, for a tree of more than 64 split nodes,
    the index of its distinct bytes: a sort). Shifts and ORs of whole byte rows: a quarter of
    the CPU of transposing the bytes to one row each (0.03 vs 0.11 s for 200 trees x 95k rows)."""
    if len(lanes) <= 8:
        keys = lanes[0, :n].astype(np.uint32 if len(lanes) <= 4 else np.uint64)
        for byte in range(1, len(lanes)):
            np.bitwise_or(
                keys, np.left_shift(lanes[byte, :n].astype(keys.dtype), 8 * byte), out=keys
            )
        return keys
    packed = np.ascontiguousarray(lanes[:, :n].T)
    return np.unique(packed, axis=0, return_inverse=True)[1].reshape(-1)


def pattern_directions(lanes: np.ndarray, row: np.ndarray, nodes: int) -> np.ndarray:
    """split nodes x (8 patterns), uint64: whether the row `row[p]` goes left at each split
    node, as byte p % 8 (0 or 1) of word p // 8; the patterns rounded up to whole words with 0.
    Gathered from direction_bytes and unpacked by word: gathering the bools themselves
    (split nodes x patterns) cost 0.17 s of CPU for 200 trees x 95k rows."""
    patterns = len(row)
    picked = np.zeros((len(lanes), -(-patterns // 8) * 8), dtype=np.uint8)
    picked[:, :patterns] = lanes[:, row]
    words = picked.view(np.uint64)  # byte of 8 nodes x (8 patterns)
    node = np.arange(nodes)
    shifted = words[node // 8] >> (node % 8).astype(np.uint64)[:, None]
    return shifted & np.uint64(0x0101010101010101)


def one_of_each(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(a row of each distinct key, each row's group): a hash factorisation, linear where
    np.unique would sort. Arrow's dictionary encoding rather than pd.factorize (the same
    groups): 0.17-0.21 vs 0.30 s of CPU for 200 trees x 95k rows."""
    encoded = pc.dictionary_encode(pa.array(keys))
    group = encoded.indices.to_numpy().astype(np.intp)  # int32 indices gather at half speed
    row = np.empty(len(encoded.dictionary), dtype=np.intp)
    row[group] = np.arange(len(keys))  # any row of a group stands for it: they branch alike
    return row, group


def shapley_weights(k_max: int) -> np.ndarray:
    """w[k, s] = s! (k-s-1)! / k!: the weight of a subset of s of the other k-1 features."""
    w = np.zeros((k_max + 1, max(k_max, 1)))
    for k in range(1, k_max + 1):
        for s in range(k):
            w[k, s] = math.factorial(s) * math.factorial(k - 1 - s) / math.factorial(k)
    return w


def unwound_sums(zero: np.ndarray, one: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per entry (row) and path feature i (column; padding has z = 1, o = 0):
    (o_i - z_i) * sum_s w[s] [x^s] prod_{j != i} (z_j + o_j x). The full product once, then
    divided by i's own factor: by z_i where o_i is 0; by (x + z_i) where it is 1, by synthetic
    division from the top (each step multiplies earlier rounding by z_i <= 1: stable)."""
    entries, k = zero.shape
    product = np.zeros((entries, k + 1))
    product[:, 0] = 1.0
    for j in range(k):
        product[:, 1:] = product[:, 1:] * zero[:, j, None] + product[:, :-1] * one[:, j, None]
        product[:, 0] *= zero[:, j]
    without_zero_factor = (product[:, :k] * weights).sum(axis=1)[:, None] / zero
    without_one_factor = np.zeros((entries, k))
    quotient = np.zeros((entries, k))
    for s in range(k, 0, -1):
        quotient = product[:, s, None] - zero * quotient  # coefficient s-1 of the quotient
        without_one_factor += weights[:, s - 1, None] * quotient
    return np.where(one > 0, without_one_factor, without_zero_factor) * (one - zero)


def tree_values(
    tree: Tree, words: np.ndarray, patterns: int, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(the features `tree` splits on, those features x patterns: the tree's TreeSHAP values of
    the branch patterns `words` (pattern_directions)), each distinct (leaf, agreement bits)
    computed once. The tree's bias value is tree.expected for every pattern; its other
    features' values are 0.

    As in direction_bytes, the bools are handled 8 patterns to a 64-bit word (a bool is the
    byte 0 or 1); the padding patterns are sliced off below."""
    features = np.unique(tree.path_features)
    if len(tree.leaf_values) == 0:
        return features, np.zeros((0, patterns))
    # path step x pattern: whether the pattern goes the path's way there (left, or not left:
    # each byte flipped by XOR with 1)
    right = np.where(tree.path_left, 0, 0x0101010101010101).astype(np.uint64)
    agree = words[tree.path_nodes] ^ right[:, None]
    one = agree[tree.node_starts]  # (leaf, feature) entry x pattern: o_j
    steps = np.diff(np.append(tree.node_starts, len(agree)))  # path steps per entry
    for extra in range(1, int(steps.max())):  # a feature tested again on the same path
        again = np.flatnonzero(steps > extra)
        one[again] &= agree[tree.node_starts[again] + extra]
    # Each leaf's agreement bits, slot s of its path in bit s: 8 slots to a byte per pattern,
    # by shifts and ORs of the words (the shifted bits never cross into the next pattern's
    # byte). Per pattern and slot this was 0.44 of 3.3 s of CPU, its comparisons 0.13.
    k = int(tree.leaf_sizes.max())
    lanes = np.zeros((-(-k // 8), len(tree.leaf_values), one.shape[1]), dtype=np.uint64)
    for slot in range(k):
        leaves = np.flatnonzero(tree.leaf_sizes > slot)
        lanes[slot // 8, leaves] |= one[tree.leaf_starts[leaves] + slot] << np.uint64(slot % 8)
    offsets = np.concatenate([[0], np.cumsum(np.int64(1) << tree.leaf_sizes)])
    keys = offsets[:-1, None] + lanes.view(np.uint8)[0, :, :patterns]  # leaf x pattern
    for lane in range(1, len(lanes)):
        keys += lanes.view(np.uint8)[lane, :, :patterns].astype(np.int64) << (8 * lane)
    index, distinct = _distinct(keys.T.reshape(-1), int(offsets[-1]))  # pattern-major
    leaf = np.searchsorted(offsets, distinct, side="right") - 1
    bits = distinct - offsets[leaf]
    sizes = tree.leaf_sizes[leaf]
    slots = np.arange(k)
    real = slots < sizes[:, None]
    entry = np.minimum(tree.leaf_starts[leaf][:, None] + slots, len(tree.zero) - 1)
    zero = np.where(real, tree.zero[entry], 1.0)
    agreed = np.where(real, (bits[:, None] >> slots) & 1, 0).astype(np.float64)
    terms = unwound_sums(zero, agreed, weights[sizes][:, :k]) * tree.leaf_values[leaf][:, None]
    per_key = np.zeros((len(distinct), len(features)))
    key_at, slot_at = np.nonzero(real)
    column = np.searchsorted(features, tree.path_features[entry[key_at, slot_at]])
    per_key[key_at, column] = terms[key_at, slot_at]
    pick = sparse.csr_matrix(  # pattern x key: one 1 per leaf
        (np.ones(len(index)), index, np.arange(0, len(index) + 1, len(tree.leaf_values))),
        shape=(patterns, len(distinct)),
    )
    return features, np.ascontiguousarray((pick @ per_key).T)


def _distinct(keys: np.ndarray, space: int) -> tuple[np.ndarray, np.ndarray]:
    """(each key's index among the distinct keys, the distinct keys): by a table when keys are
    below `space` <= DENSE_KEYS, else by a hash."""
    if space > DENSE_KEYS:
        index, distinct = pd.factorize(keys)
        return index, distinct
    seen = np.zeros(space, dtype=bool)
    seen[keys] = True
    distinct = np.flatnonzero(seen)
    position = np.cumsum(seen) - 1
    return position[keys], distinct


def tree_shap(
    booster: lgb.Booster,
    matrix: pd.DataFrame,
    num_threads: int,
    trees: list[Tree] | None = None,
    raw_score: np.ndarray | None = None,
) -> Contributions:
    """`booster.predict(matrix, pred_contrib=True)`, computed per tree, leaf and branch pattern
    (module docstring). `trees` is parse_trees(booster), if already parsed; `raw_score` is
    booster.predict(matrix, raw_score=True), if already computed (scoring did)."""
    trees = parse_trees(booster) if trees is None else trees
    n, width = len(matrix), matrix.shape[1] + 1
    if n == 0:
        return Contributions(np.zeros((0, width)), "grouped", 0)
    deepest = max((int(t.leaf_sizes.max(initial=0)) for t in trees), default=0)
    if deepest > MAX_PATH_FEATURES:
        too_deep = f"a leaf's path tests more than {MAX_PATH_FEATURES} features"
        return row_by_row(booster, matrix, num_threads, too_deep, 0)
    rows = read_rows(booster, matrix)
    weights = shapley_weights(max(deepest, 1))
    workers = max(1, min(num_threads, len(trees)))
    with ThreadPoolExecutor(workers) as pool:  # numpy releases the GIL in its larger steps
        parts = list(
            pool.map(lambda k: _trees_share(trees[k::workers], rows, weights), range(workers))
        )
    out = np.sum([part for part, _ in parts], axis=0)
    groups = sum(count for _, count in parts)
    problem = _check(booster, matrix, out, num_threads, raw_score)
    if problem is None:
        return Contributions(out, "grouped", groups)
    return row_by_row(booster, matrix, num_threads, problem, groups)


def _trees_share(trees: list[Tree], rows: Rows, weights: np.ndarray) -> tuple[np.ndarray, int]:
    """The summed values of `trees` for every row, and how many (tree, pattern) pairs that
    took."""
    n, width = rows.x.shape[0], rows.x.shape[1] + 1
    out = np.zeros((width, n))  # feature x row: each feature's sum is one contiguous vector
    bias = 0.0
    groups = 0
    for tree in trees:
        lanes = direction_bytes(directions(tree, rows))
        row, group = one_of_each(pattern_keys(lanes, n))
        words = pattern_directions(lanes, row, tree.split_nodes)
        features, values = tree_values(tree, words, len(row), weights)
        # Only the features the tree splits on (about 10 of 14 here); per feature, one gather
        # of its values from the pattern to each row: half the CPU of gathering whole rows.
        for column, feature in enumerate(features):
            out[feature] += values[column][group]
        bias += tree.expected  # added to every row in the same order: the same float sums
        groups += len(row)
    out[-1] = bias
    return out.T, groups


def row_by_row(
    booster: lgb.Booster, matrix: pd.DataFrame, num_threads: int, problem: str, groups: int
) -> Contributions:
    """LightGBM's own pred_contrib of every row; `problem` says why (the `method`)."""
    values = booster.predict(matrix, pred_contrib=True, num_threads=num_threads)
    width = matrix.shape[1] + 1
    return Contributions(
        np.asarray(values).reshape(len(matrix), width), f"row by row ({problem})", groups
    )


def _check(
    booster: lgb.Booster,
    matrix: pd.DataFrame,
    values: np.ndarray,
    num_threads: int,
    raw_score: np.ndarray | None,
) -> str | None:
    """None when `values` agree with LightGBM (sums to the raw score; a sample equal to
    pred_contrib), else what disagreed."""
    raw = raw_score
    if raw is None or len(raw) != len(matrix) or np.isnan(raw).any():
        raw = np.asarray(booster.predict(matrix, raw_score=True, num_threads=num_threads))
    off = np.abs(values.sum(axis=1) - raw)
    bad = ~(off <= TOLERANCE * np.maximum(1.0, np.abs(raw)))
    if bad.any():
        return f"{int(bad.sum())} rows do not sum to the raw score"
    sample = np.unique(np.linspace(0, len(matrix) - 1, min(SAMPLE_ROWS, len(matrix))).astype(int))
    exact = booster.predict(matrix.iloc[sample], pred_contrib=True, num_threads=num_threads)
    exact = np.asarray(exact).reshape(len(sample), values.shape[1])
    if not np.allclose(values[sample], exact, rtol=0.0, atol=TOLERANCE):
        return "a sampled row differs from pred_contrib"
    return None
