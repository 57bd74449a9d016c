"""TransRate (Huang, Huang, Ning, Chen, Zhu, Yang, ICML 2022): transfer rate as mutual information
between features and labels, measured by the coding rate.

With Z the column-centred features (centred once, globally) and Z_c the n_c rows of class c, the
coding rate of a block A with n_A rows at distortion eps is

    R(A) = 1/2 log det(I_D + A^T A / (n_A eps)) = 1/2 log det(I_{n_A} + A A^T / (n_A eps)),

    TransRate = R(Z) - 1/C' sum_c R(Z_c)          (C' = number of classes present; the paper's listing)

or, with `weighted=True`, R(Z) - sum_c (n_c / N) R(Z_c) (the weighting of the authors' research
scripts). The rows of a class are not re-centred. Higher predicts better transfer.

Every log-determinant is a Cholesky factorisation of a positive definite matrix (I plus a Gram
matrix). The class terms share one: the N x N matrix B = I + [y_i = y_j] (Z Z^T)_ij / (n_{y_i} eps)
is block diagonal up to a permutation of the rows, so its Cholesky factor is too, and the log
diagonal of the factor summed over the rows of class c is log det of that class's block. Where
N x N is larger than the per-class D x D matrices (N > D with few classes) these are used instead.
Reference code: the listing in the paper's appendix (float64 NumPy, one slogdet per class).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from parc_jax.estimators import _engine, _labels, _stats


def _log_det_identity_plus(a: jax.Array) -> jax.Array:
    """log det(I + a) of a positive semi-definite a, from its Cholesky factor."""
    factor = jnp.linalg.cholesky(jnp.eye(a.shape[0], dtype=a.dtype) + a, symmetrize_input=False)
    return 2 * jnp.sum(jnp.log(jnp.diagonal(factor)))


def _class_log_dets_by_rows(gram, labels, counts, eps, num_classes):
    """[C] log det(I + Z_c Z_c^T / (n_c eps)) from one N x N block-diagonal Cholesky factorisation of
    the Gram matrix Z Z^T."""
    scale = jax.lax.rsqrt(counts[labels] * eps)  # [N]: within a block, (1 / (n_c eps)) = scale_i scale_j
    same = labels[:, None] == labels[None, :]
    blocks = jnp.eye(gram.shape[0], dtype=gram.dtype) + jnp.where(same, gram * scale[:, None] * scale[None, :], 0.0)
    factor = jnp.linalg.cholesky(blocks, symmetrize_input=False)
    return jax.ops.segment_sum(2 * jnp.log(jnp.diagonal(factor)), labels, num_segments=num_classes)


def _class_log_dets_by_columns(centered, labels, counts, eps, num_classes):
    """[C] log det(I_D + Z_c^T Z_c / (n_c eps)), one D x D factorisation per class."""

    def one(c):
        rows = jnp.where(labels == c, 1.0, 0.0)[:, None] * centered
        scatter = _stats.matmul(rows.T, centered) / (jnp.maximum(counts[c], 1.0) * eps)
        return _log_det_identity_plus(scatter)

    return jax.lax.map(one, jnp.arange(num_classes))


def _kernel(features, labels, *, num_classes, eps, weighted):
    n, d = features.shape
    centered = features - _stats.column_mean(features)
    counts = jnp.bincount(labels, length=num_classes).astype(jnp.float32)
    whole = _stats.gram(centered) if n <= d else _stats.gram(centered.T)
    rate = _log_det_identity_plus(whole / (n * eps)) / 2
    centered, whole = _engine.after((centered, whole), rate)  # one Cholesky at a time (`_engine.after`)
    by_rows = n * n * (n / 3 + d) <= num_classes * d * d * (d / 3 + n)  # flops of the two routes
    if by_rows:  # the whole set's Gram is the N x N one when N <= D
        row_gram = whole if n <= d else _stats.gram(centered)
        class_log_dets = _class_log_dets_by_rows(row_gram, labels, counts, eps, num_classes)
    else:
        class_log_dets = _class_log_dets_by_columns(centered, labels, counts, eps, num_classes)
    class_rates = jnp.where(counts > 0, class_log_dets / 2, 0.0)
    if weighted:
        return rate - jnp.sum(counts / n * class_rates)
    return rate - jnp.sum(class_rates) / jnp.sum(counts > 0)


def _prepare(labels, num_classes, *, n, d, eps=1e-4, weighted=False):
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
        raise ValueError(f"eps must be a float > 0, got {eps!r}")
    return _labels.prepare_class_labels(labels, num_classes, n=n, d=d, eps=float(eps), weighted=bool(weighted))


SPEC = _engine.EstimatorSpec(
    name="transrate",
    input_kind="features",
    prepare=_prepare,
    kernel=_kernel,
    description="TransRate (Huang et al. 2022): coding rate of the features minus that within each class",
)


def transrate(
    features: jax.typing.ArrayLike, labels, num_classes: int, *, eps: float = 1e-4, weighted: bool = False
) -> jax.Array:
    """TransRate score (Huang et al., ICML 2022).

    Args:
      features: [N, D] probe features (centred here; the paper's listing uses them unscaled).
      labels: [N] int target labels in [0, num_classes).
      num_classes: C, the number of target classes.
      eps: the distortion of the coding rate (1e-4 in the paper).
      weighted: weight the class terms by n_c / N instead of averaging them.

    Returns:
      Scalar (nats). Higher predicts better transfer.
    """
    return _engine.run(SPEC, features, labels, num_classes, eps=eps, weighted=weighted)
