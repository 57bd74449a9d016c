"""NCTI: Neural Collapse inspired Transferability Index (Wang, Li, Zhao, Wang, Zhang, Li, CVPR 2023),
as the authors' release (BUserName/NCTI, `NCTI_Score`) computes it.

The features are reduced by PCA to k = min(64, N, D) dimensions and a linear discriminant analysis
(scikit-learn's `LinearDiscriminantAnalysis(solver="svd")`, within-class factor 1 / (N - C)) is fitted
on them. Three terms per model, each measuring one property of neural collapse:

    feature_nuc        = || F - mean(F) ||_*        F = LDA transform of the samples (N x min(C-1, k))
    cls_conf           = mean_i Q_{i, y_i}          Q = LDA predict_proba (softmax of the decisions)
    log_class_pred_nuc = log sum_c || Q_c ||_*      Q_c = the rows of Q of class c

and over the models of one target (the release's hub combination) each term is min-max scaled:

    NCTI = cls_conf' + feature_nuc' - log_class_pred_nuc'.

The LDA (svd solver): class-centred samples scaled by their pooled within-class std (0 -> 1), times
sqrt(1 / (N - C)); SVD, singular values > 1e-4 kept, S1 = V / std / s; then the rows
sqrt(n_c / (C - 1)) (mu_c - xbar) S1 (xbar = prior-weighted mean of the class means), SVD, singular
values > 1e-4 s_max kept, S = S1 V2; transform(x) = (x - xbar) S; decision_c(x) =
(mu_c - xbar) S S^T (x - xbar) - 1/2 ||(mu_c - xbar) S||^2 + log pi_c. Ranks are kept by masking, so
shapes are static. SVDs and nuclear norms go through a QR of the tall matrix first; the rows of each class
are gathered into a [max_c n_c, C] block (zero-padded), by indices prepared on the host from the labels.

Differences from the release: its PCA is scikit-learn's randomised solver (seeded through the global
NumPy stream; up to 6e-3 relative from the exact PCA used here) and crashes when min(N, D) < 64 (here k
shrinks). When the 32 largest PCA variances sum to less than -log(1e-10) ~ 23 (features of tiny scale)
the release switches to a shrinkage LDA (`solver="eigen"`), which is not ported: the svd solver is used
at every scale.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from parc_jax.estimators import _combine, _engine, _fisher, _labels, _stats

PCA_DIMS = 64
RANK_TOLERANCE = 1e-4
WEIGHTS = (1.0, 1.0, -1.0)  # (feature_nuc, cls_conf, log_class_pred_nuc)


def _svd_of_tall(a: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(singular values, V^T) of a [n, k] matrix, n >= k, from the SVD of its k x k R factor."""
    _, s, vt = jnp.linalg.svd(jnp.linalg.qr(a, mode="r"), full_matrices=False)
    return s, vt


def nuclear_norm(a: jax.Array) -> jax.Array:
    """Sum of the singular values of a (the last two axes), through a QR of the tall side."""
    if a.shape[-2] < a.shape[-1]:
        a = jnp.swapaxes(a, -1, -2)
    return jnp.linalg.svd(jnp.linalg.qr(a, mode="r"), compute_uv=False).sum(axis=-1)


def lda_svd(z: jax.Array, labels: jax.Array, num_classes: int) -> tuple[jax.Array, ...]:
    """scikit-learn's svd-solver LDA fitted on z [N, k]: (scalings S [k, r], centred class means
    mu_c - xbar [C, k], xbar [k], log priors [C]); r = min(C, k) columns, those beyond the rank 0."""
    n = z.shape[0]
    means, counts = _fisher.class_means(z, labels, num_classes)
    present = counts > 0
    classes = present.sum()
    priors = counts / n
    xbar = priors @ means
    within = z - means[labels]
    std = jnp.sqrt(jnp.mean(within**2, axis=0))
    std = jnp.where(std == 0, 1.0, std)
    s, vt = _svd_of_tall(within / std * jax.lax.rsqrt((n - classes).astype(jnp.float32)))
    scalings = jnp.where(s > RANK_TOLERANCE, vt.T / std[:, None] / s, 0.0)
    centred_means = means - xbar
    between = _stats.matmul(jnp.sqrt(counts / (classes - 1))[:, None] * centred_means, scalings)
    _, s2, vt2 = jnp.linalg.svd(between, full_matrices=False)
    scalings = jnp.where(s2 > RANK_TOLERANCE * s2[0], _stats.matmul(scalings, vt2.T), 0.0)
    log_priors = jnp.where(present, jnp.log(jnp.maximum(priors, 1e-30)), -jnp.inf)
    return scalings, centred_means, xbar, log_priors


def terms(features: jax.Array, labels: jax.Array, members: jax.Array, num_classes: int, n_dims: int) -> jax.Array:
    """[feature_nuc, cls_conf, log_class_pred_nuc] of one model; `members` from `class_members`."""
    z = _stats.exact_pca(features, n_dims, signed=False)
    scalings, centred_means, xbar, log_priors = lda_svd(z, labels, num_classes)
    transformed = _stats.matmul(z - xbar, scalings)
    kept = transformed[:, : min(num_classes - 1, n_dims)]
    feature_nuc = nuclear_norm(kept - kept.mean(axis=0))
    coef = _stats.matmul(centred_means, scalings)
    decision = _stats.matmul(transformed, coef.T) - 0.5 * jnp.sum(coef**2, axis=1) + log_priors
    probs = jax.nn.softmax(decision, axis=1)
    cls_conf = _fisher.true_class_mean(probs, labels)
    padded = jnp.concatenate([probs, jnp.zeros((1, num_classes), probs.dtype)])
    class_nuc = jnp.sum(nuclear_norm(padded[members]))
    return jnp.stack([feature_nuc, cls_conf, jnp.log(class_nuc)])


def class_members(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """[C, max_c n_c] sample indices of each class, padded with N (the index of an appended zero row)."""
    n = labels.shape[0]
    counts = np.bincount(labels, minlength=num_classes)
    members = np.full((num_classes, counts.max()), n, np.int32)
    order = np.argsort(labels, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slots = np.arange(n) - np.repeat(starts, counts)
    members[labels[order], slots] = order
    return members


def _kernel(features, labels, members, *, num_classes, n_dims):
    return terms(features, labels, members, num_classes, n_dims)


def _prepare(labels, num_classes, *, n, d):
    labels, num_classes = _labels.checked_class_labels(labels, num_classes, n)
    label_args = (np.asarray(labels), np.asarray(class_members(labels, num_classes)))
    return label_args, dict(num_classes=num_classes, n_dims=min(PCA_DIMS, n, d))


SPEC = _engine.EstimatorSpec(
    name="ncti",
    input_kind="features",
    prepare=_prepare,
    kernel=_kernel,
    description="NCTI (Wang et al. 2023) over a bank: cls_conf' + feature_nuc' - log_class_pred_nuc', min-max scaled",
    combine=lambda values: _combine.min_max_combine(values, WEIGHTS),
)


def ncti_terms(features: jax.typing.ArrayLike, labels, num_classes: int) -> jax.Array:
    """NCTI's three per-model terms (Wang et al., CVPR 2023), as BUserName/NCTI computes them.

    Args:
      features: [N, D] probe features (PCA to min(64, N, D) dimensions inside).
      labels: [N] int target labels in [0, num_classes).
      num_classes: C.

    Returns:
      [3]: (feature_nuc, cls_conf, log_class_pred_nuc). `ncti` combines them over a bank.
    """
    return _engine.run(SPEC, features, labels, num_classes)


def ncti(bank, labels, num_classes: int) -> jax.Array:
    """NCTI scores of the M models of one bank (scores are relative to the bank).

    NCTI = cls_conf' + feature_nuc' - log_class_pred_nuc', each term of `ncti_terms` min-max scaled over
    the bank (`min_max_combine`; a term equal for every model contributes 0).

    Args:
      bank: [M, N, D] features or a list of M [N, D_m] arrays, on the same probe set.
      labels: [N] int target labels in [0, num_classes).
      num_classes: C.

    Returns:
      [M] scores. `score_bank_terms("ncti", ...)` gives the [M, 3] terms.
    """
    return _engine.run_bank(SPEC, bank, labels, num_classes)
