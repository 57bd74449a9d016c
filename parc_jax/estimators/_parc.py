"""PARC: Pairwise Annotation Representation Comparison (Bolya, Mittapalli, Hoffman, NeurIPS 2021).

PARC scores a model by how well the geometry of its features on the probe set agrees with the
geometry of the target labels:

    RDM_f[i, j] = 1 - pearson(f_i, f_j)      (f = column-standardised features, optionally PCA'd)
    RDM_y[i, j] = 1 - pearson(y_i, y_j)      (y = one-hot or multi-hot labels)
    PARC = 100 * spearman(triu(RDM_f), triu(RDM_y))

over the N(N-1)/2 pairs i < j.

Single-label targets: RDM_y takes two values only, 0 for same-class pairs and 1 + 1/(C-1) for the
others. The Spearman correlation against such a two-valued variable is a rank-sum (Mann-Whitney)
statistic: with G the smaller of the two pair groups (same-class or different-class), O the other,
R the mid-ranks of RDM_f over all P pairs,

    S   = sum_{o in O} (|G| - #{g < o} - #{g <= o}) / 2  = U_G - |G||O|/2
    rho = S / (sqrt((P^2 - 1) / 12) * sqrt(|G| |O|)),

negated when G is the same-class group. Only G is sorted; each value of O is located in it by binary
search. Ties in RDM_f enter S exactly through the mid-ranks; the tie correction of the variance of
R, sum(t^3 - t) / (12 P), is left out: it is below 1e-9 relative unless a sizeable fraction of all pairs
share one value. Feature dissimilarities are ranked through -r rather than 1 - r: float32 1 - r would
merge distinct small r into false ties. RDM_y has exact ties, which the PARC release's float64
`1 - np.corrcoef` breaks with rounding noise (see shared/golden/README.md).

`method="blocked"` computes the same S without an N x N matrix: the correlation matrix is streamed in
row blocks (recomputed from the [N, d] unit rows), G is gathered and sorted (in value ranges of bounded
size if it is large) and the O values are located in it block by block; see `_blocked.py`. Both paths
take each pair value as one float32 dot product of two unit rows, but in differently shaped matrix
products, which may round the last bit differently (the scores agree to 1e-3 on the x100 scale, ties
from duplicated samples included). Multi-hot targets use the dense general Spearman path only.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from parc_jax.estimators import _blocked, _engine, _stats, _validation

# Capacity buckets per octave for the sorted pair group: at most 1/8 padding, few distinct programs.
_BUCKETS_PER_OCTAVE = 8


def _capacity(count: int) -> int:
    """Round `count` up to one of 8 buckets per power of two (static shape of the sorted group)."""
    if count <= 64:
        return 64
    step = 2 ** (math.ceil(math.log2(count)) - int(math.log2(_BUCKETS_PER_OCTAVE)))
    return int(math.ceil(count / step) * step)


def reduce_features(features: jax.Array, n_dims: int | None) -> jax.Array:
    """PARC's feature preparation: optional exact PCA to n_dims, then column standardisation."""
    return _stats.standardize_columns(_stats.reduce_dims(features, n_dims))


def pair_statistic(values: jax.Array, in_group: jax.Array, other: jax.Array, *, capacity: int):
    """Mann-Whitney sums for one set of pair values: returns (S, |G|, |O|) as float32.

    `values` holds pair dissimilarities (any shape); `in_group` / `other` mark the pairs of the sorted
    group G and of the other group O (pairs in neither, e.g. the diagonal, are ignored).
    S = sum over O of (|G| - #{g < o} - #{g <= o}) / 2.
    """
    flat_values = values.reshape(-1)
    flat_group = in_group.reshape(-1)
    n_group = jnp.sum(flat_group)
    (positions,) = jnp.nonzero(flat_group, size=capacity, fill_value=0)
    group_values = jnp.where(jnp.arange(capacity) < n_group, flat_values[positions], jnp.inf)
    return sorted_group_statistic(_stats.sort_floats(group_values), n_group, flat_values, other.reshape(-1))


def sorted_group_statistic(sorted_group: jax.Array, n_group: jax.Array, values: jax.Array, other: jax.Array):
    """S = sum over the O-pairs among `values` of (|G| - #{g < o} - #{g <= o}) / 2, and |O|.

    `sorted_group` is G sorted ascending, padded at the end with +inf (which no finite value reaches).
    Each value is first placed among linear bins over [min G, max G] (about as many bins as G has
    places), then binary-searched inside its bin only: a few steps instead of log2 |G| (at N = 500,
    C = 37 the search took ~6 of 16 ms less); #{g <= v} follows from a table of run ends of equal G
    values (`_blocked.group_counter`).
    """
    num_bins = 2 ** math.ceil(math.log2(sorted_group.shape[0]))
    less, less_or_equal = _blocked.group_counter(sorted_group, n_group, num_bins)(values)
    half_u = (n_group - less - less_or_equal).astype(jnp.float32) / 2
    statistic = jnp.sum(jnp.where(other, half_u, 0.0))
    return statistic, n_group.astype(jnp.float32), jnp.sum(other).astype(jnp.float32)


def folded_upper_triangle(n: int) -> tuple[jax.Array, jax.Array]:
    """Row and column indices that lay the upper triangle (diagonal included) of an n x n matrix out
    as an [m/2, m + 1] rectangle, m = n rounded up to even: folded row r holds row r from the
    diagonal on, then row m - 1 - r from the diagonal on. Indices >= n (odd n) are padding.
    """
    m = n + n % 2
    r = jax.lax.broadcasted_iota(jnp.int32, (m // 2, m + 1), 0)
    c = jax.lax.broadcasted_iota(jnp.int32, (m // 2, m + 1), 1)
    first = c < m - r
    return jnp.where(first, r, m - 1 - r), jnp.where(first, r + c, c - 1)


def upper_triangle_pairs(unit: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
    """Every pair i < j of the unit rows [N, d]: (values -unit_i . unit_j, i, j, valid), flat arrays of a
    padded layout in which `valid` marks the N(N-1)/2 real pairs.

    The rows are cut in halves (`_stats.row_blocks`) and only the blocks on and above the diagonal of
    the N x N product are computed (XLA has no symmetric rank-k update). Off-diagonal blocks are used
    whole, the triangles of the diagonal ones in their folded layout (`folded_upper_triangle`); all
    indices are computed in the program (no N^2-sized constants). Every value is a dot product of two
    unit rows, as in the blocked path.
    """
    blocks, edges = _stats.row_blocks(unit, 2)
    parts = []
    for i, (block, offset) in enumerate(zip(blocks, edges)):
        size = block.shape[0]
        rows, cols = folded_upper_triangle(size)
        valid = (rows < cols) & (cols < size)
        rows, cols = jnp.minimum(rows, size - 1), jnp.minimum(cols, size - 1)
        parts.append((_stats.matmul(block, block.T)[rows, cols], offset + rows, offset + cols, valid))
        for other, other_offset in zip(blocks[i + 1 :], edges[i + 1 :]):
            shape = (size, other.shape[0])
            rows = offset + jax.lax.broadcasted_iota(jnp.int32, shape, 0)
            cols = other_offset + jax.lax.broadcasted_iota(jnp.int32, shape, 1)
            parts.append((_stats.matmul(block, other.T), rows, cols, jnp.ones(shape, bool)))
    values, rows, cols, valid = (jnp.concatenate([part[i].reshape(-1) for part in parts]) for i in range(4))
    return -values, rows, cols, valid


def rank_sum_correlation(statistic, n_group, n_other, *, group_is_same_class: bool) -> jax.Array:
    """Spearman correlation between the pair dissimilarities and the two-valued label RDM, x100."""
    num_pairs = n_group + n_other
    rank_std = jnp.sqrt((num_pairs * num_pairs - 1.0) / 12.0)
    rho = statistic / (rank_std * jnp.sqrt(n_group * n_other))
    return 100.0 * (-rho if group_is_same_class else rho)


def _parc_single_label(features, labels, *, n_dims, group_is_same_class, capacity):
    values, rows, cols, valid = upper_triangle_pairs(_stats.unit_rows(reduce_features(features, n_dims)))
    same = labels[rows] == labels[cols]
    group = valid & (same if group_is_same_class else ~same)
    statistic, n_group, n_other = pair_statistic(values, group, valid & ~group, capacity=capacity)
    value = rank_sum_correlation(statistic, n_group, n_other, group_is_same_class=group_is_same_class)
    # A sample with constant standardised features has no correlation (0/0); binary search would
    # silently rank its NaNs, so propagate them for the caller's check instead.
    return jnp.where(jnp.isfinite(values).all(), value, jnp.nan)


def multi_hot_correlation(multi_hot: jax.Array) -> jax.Array:
    """Row correlations of 0/1 label rows from integer counts, so equal pairs give bit-equal values.

    For rows with k_i, k_j ones out of C and m in common: r = (C m - k_i k_j) / sqrt(k_i (C-k_i) k_j (C-k_j)).
    """
    num_classes = multi_hot.shape[1]
    counts = multi_hot.sum(axis=1)
    common = _stats.gram(multi_hot)  # integer counts: exact in float32
    spread = counts * (num_classes - counts)
    return (num_classes * common - counts[:, None] * counts[None, :]) / jnp.sqrt(spread[:, None] * spread[None, :])


def triangle_spearman(unit: jax.Array, other: jax.Array) -> jax.Array:
    """100 x Spearman (average ranks) between the dissimilarities -unit_i . unit_j of the unit rows [N, d]
    and `other` [N, N] over the pairs i < j, on dense matrices; NaN (constant samples) propagates."""
    n = unit.shape[0]
    values, rows, cols, valid = upper_triangle_pairs(unit)
    (pairs,) = jnp.nonzero(valid, size=n * (n - 1) // 2)
    values, other_values = values[pairs], other[rows[pairs], cols[pairs]]
    value = 100.0 * _stats.spearman(values, other_values)
    return jnp.where(jnp.isfinite(values).all() & jnp.isfinite(other_values).all(), value, jnp.nan)


def _parc_multi_label(features, multi_hot, *, n_dims):
    unit = _stats.unit_rows(reduce_features(features, n_dims))
    return triangle_spearman(unit, -multi_hot_correlation(multi_hot))  # constant samples -> NaN, as single-label


def _parc_blocked(features, labels, *, n_dims, plan):
    unit = _stats.unit_rows(reduce_features(features, n_dims))
    statistic, n_group, n_other = _blocked.parc_rank_sum(unit, labels, plan)
    value = rank_sum_correlation(statistic, n_group, n_other, group_is_same_class=plan.group_is_same_class)
    return jnp.where(jnp.isfinite(unit).all(), value, jnp.nan)  # as the dense path: constant samples -> NaN


def _kernel(features, labels, *, n_dims, multi_label, group_is_same_class, capacity, plan=None):
    if plan is not None:
        return _parc_blocked(features, labels, n_dims=n_dims, plan=plan)
    if multi_label:
        return _parc_multi_label(features, labels, n_dims=n_dims)
    return _parc_single_label(
        features, labels, n_dims=n_dims, group_is_same_class=group_is_same_class, capacity=capacity
    )


def pair_groups(labels: np.ndarray) -> tuple[int, int]:
    """(# same-class pairs, # different-class pairs) among the N(N-1)/2 pairs."""
    counts = np.bincount(labels).astype(np.int64)
    same = int((counts * (counts - 1) // 2).sum())
    n = labels.shape[0]
    return same, n * (n - 1) // 2 - same


def _prepare(labels, num_classes, *, n, d, n_dims=None, method="auto", block_size=None):
    num_classes = _validation.check_num_classes(num_classes)
    n_dims = _validation.check_n_dims(n_dims, n, d)
    resolved = _blocked.resolve_method(method, n)
    block_size = _blocked.check_block_size(block_size)
    if np.ndim(labels) == 2:
        if method == "blocked":
            raise ValueError("the blocked PARC takes [N] int labels only; use method='dense' for multi-hot labels")
        multi_hot = _validation.check_multi_hot(labels, n, num_classes)
        static = dict(n_dims=n_dims, multi_label=True, group_is_same_class=False, capacity=0)
        return (np.asarray(multi_hot),), static
    labels = _validation.check_labels(labels, n, num_classes)
    same, different = pair_groups(labels)
    if same == 0:
        raise ValueError("PARC needs at least one pair of probe samples from the same class; every class has 1 sample")
    group_is_same_class = same <= different
    if resolved == "blocked":
        plan = _blocked.plan_parc(labels, group_is_same_class, min(same, different), block_size, _capacity)
        static = dict(n_dims=n_dims, multi_label=False, group_is_same_class=group_is_same_class, capacity=0, plan=plan)
        return (np.asarray(labels),), static
    capacity = _capacity(min(same, different))
    static = dict(n_dims=n_dims, multi_label=False, group_is_same_class=group_is_same_class, capacity=capacity)
    return (np.asarray(labels),), static


SPEC = _engine.EstimatorSpec(
    name="parc",
    input_kind="features",
    prepare=_prepare,
    kernel=_kernel,
    min_cols=2,
    description="PARC (Bolya et al. 2021): Spearman x100 of feature vs label dissimilarities",
)


def parc(
    features: jax.typing.ArrayLike,
    labels,
    num_classes: int,
    *,
    n_dims: int | None = None,
    method: str = "auto",
    block_size: int | None = None,
) -> jax.Array:
    """PARC score (Bolya et al., NeurIPS 2021), x100 as published.

    Args:
      features: [N, D] probe features of one model.
      labels: [N] int class indices in [0, num_classes), or [N, C] multi-hot 0/1 targets.
      num_classes: C, the number of target classes.
      n_dims: if given, exact PCA to this many dimensions first (clamped to min(N, D)); the paper's
        PARC f=32 is `n_dims=32`.
      method: "dense" (N x N matrices), "blocked" (row blocks of the correlation matrix streamed
        through a rank-sum; memory O(block_size x N), exact, spread over the local devices; int
        labels only) or "auto" (dense up to N = 4096 and for multi-hot labels, blocked above).
      block_size: rows per block of the blocked path; default about 4M pair values per block.

    Returns:
      Scalar: 100 x Spearman correlation between the upper triangles of the feature and label
      dissimilarity matrices. Higher predicts better transfer.
    """
    return _engine.run(SPEC, features, labels, num_classes, n_dims=n_dims, method=method, block_size=block_size)
