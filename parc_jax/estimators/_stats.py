"""Statistics shared by the estimator kernels: centring, standardisation, PCA, ranks, correlations.

All functions are pure and jittable; matmuls use `precision=HIGHEST` so that TF32 (GPU) or bf16 passes
(TPU) do not change the numbers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

HIGHEST = jax.lax.Precision.HIGHEST


def matmul(a: jax.Array, b: jax.Array) -> jax.Array:
    """`a @ b` at full float32 precision on every backend."""
    return jnp.matmul(a, b, precision=HIGHEST)


def standardize_columns(x: jax.Array) -> jax.Array:
    """Z-score every column (population std, ddof=0), as `sklearn.preprocessing.StandardScaler`.

    Constant columns (detected exactly, by max == min, not by a float32 std that may not be 0) become 0.
    """
    x = jnp.asarray(x, jnp.float32)
    centered = x - x.mean(axis=0)
    std = jnp.sqrt(jnp.mean(centered**2, axis=0))
    constant = x.max(axis=0) == x.min(axis=0)
    return jnp.where(constant, 0.0, centered / jnp.where(constant, 1.0, std))


def exact_pca(x: jax.Array, n_dims: int) -> jax.Array:
    """Project onto the first `n_dims` principal axes (exact SVD of the centred data).

    Each principal axis v_k is signed so that its largest-magnitude loading is positive, the rule of
    scikit-learn >= 1.5 (`svd_flip(u_based_decision=False)`). The sign matters to PARC: it correlates
    samples across the projected columns.

    Returns the scores X_c V_k = U_k S_k, shape [N, n_dims].
    """
    x = jnp.asarray(x, jnp.float32)
    centered = x - x.mean(axis=0)
    u, s, vt = jnp.linalg.svd(centered, full_matrices=False)
    u, s, vt = u[:, :n_dims], s[:n_dims], vt[:n_dims]
    largest = jnp.argmax(jnp.abs(vt), axis=1)
    signs = jnp.sign(jnp.take_along_axis(vt, largest[:, None], axis=1))[:, 0]
    signs = jnp.where(signs == 0, 1.0, signs)
    return u * (s * signs)


def row_correlation(x: jax.Array) -> jax.Array:
    """Pearson correlation between the rows of x, [N, D] -> [N, N] (as `np.corrcoef(x)`)."""
    centered = x - x.mean(axis=1, keepdims=True)
    unit = centered / jnp.linalg.norm(centered, axis=1, keepdims=True)
    return matmul(unit, unit.T)


def average_ranks(values: jax.Array) -> jax.Array:
    """1-based ranks of a vector with ties given their average rank (as `scipy.stats.rankdata`).

    Sort + two searchsorted passes: for value v the average rank is (#less + #less_or_equal + 1) / 2.
    (argsort(argsort(v)) would give distinct ranks to tied values.)
    """
    ordered = jnp.sort(values)
    less = jnp.searchsorted(ordered, values, side="left")
    less_or_equal = jnp.searchsorted(ordered, values, side="right")
    return (less + less_or_equal + 1).astype(jnp.float32) / 2


def pearson(a: jax.Array, b: jax.Array) -> jax.Array:
    """Pearson correlation of two vectors."""
    a = a - a.mean()
    b = b - b.mean()
    return jnp.sum(a * b) / jnp.sqrt(jnp.sum(a * a) * jnp.sum(b * b))


def spearman(a: jax.Array, b: jax.Array) -> jax.Array:
    """Spearman correlation with average ranks for ties (as `scipy.stats.spearmanr`)."""
    return pearson(average_ranks(a), average_ranks(b))
