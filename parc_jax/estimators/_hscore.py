"""H-score (Bao, Li, Huang, Wang, Zhou, ICIP 2019) and its shrinkage-regularised version
(Ibrahim, Ponomareva, Mazumder, "Newer is not always better", ICLR 2022).

H-score measures how much of the feature covariance is explained by the class-conditional means:

    H = tr( cov(f)^+ cov(g) ),    g_i = E[f | y = y_i]  (the class mean of sample i's class)

with both covariances over the probe set (ddof = 1), on column-standardised features (as in the PARC
release). No D x D matrix is formed or inverted: with the thin SVD of the standardised features
X = U diag(s) V^T, keeping singular values above 1e-5 s_max (the numerical rank in float32),
g = A X with A the class-averaging matrix, so

    H = tr( (X^T X)^+ X^T A^T A X ) = || A U ||_F^2 = sum_c || sum_{i in c} u_i ||^2 / n_c.

Where D >= N the covariance is singular and H equals C - 1, the rank of the class-mean subspace.

`shrinkage=True` gives the regularised H-score on centred (not standardised) features,

    H_a = tr( ((1 - a) S + a mu I)^-1 (1 - a) cov(g) ),   S = X^T X / N,  mu = tr(S) / D,

with a the Ledoit-Wolf shrinkage (as `sklearn.covariance.LedoitWolf`). In the SVD basis
H_a = (1 - a)/(N - 1) sum_k s_k^2 ||A u_k||^2 / ((1 - a) s_k^2 / N + a mu); a itself needs only
||X^T X||_F^2 = sum_k s_k^4 and sum_i ||x_i||^4.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from parc_jax.estimators import _engine, _labels, _stats

RELATIVE_RANK_CUTOFF = 1e-5


def _class_mean_energy(u, keep, labels, num_classes):
    """||A u_k||^2 for every column k of u: sum over classes of (class sum)^2 / class count."""
    sums = jax.ops.segment_sum(u, labels, num_segments=num_classes)  # [C, k]
    counts = jnp.bincount(labels, length=num_classes).astype(jnp.float32)
    per_column = jnp.sum(sums**2 / jnp.maximum(counts, 1.0)[:, None], axis=0)
    return jnp.where(keep, per_column, 0.0)


def ledoit_wolf_shrinkage(centered: jax.Array, s: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Ledoit-Wolf shrinkage a of the covariance of `centered` [N, D] with singular values `s`.

    Returns (a, mu) with mu = tr(S) / D the scale of the shrinkage target mu I.
    """
    n, d = centered.shape
    eigenvalues = s * s / n  # of S = X^T X / N; the other D - k are 0
    mu = jnp.sum(eigenvalues) / d
    # delta = ||S - mu I||_F^2 / D, beta = (sum_i ||x_i||^4 / N - ||S||_F^2) / (N D), capped at delta.
    delta = (jnp.sum((eigenvalues - mu) ** 2) + (d - eigenvalues.shape[0]) * mu**2) / d
    beta = (jnp.sum(jnp.sum(centered**2, axis=1) ** 2) / n - jnp.sum(eigenvalues**2)) / (n * d)
    beta = jnp.minimum(beta, delta)
    return jnp.where(beta == 0, 0.0, beta / jnp.where(delta == 0, 1.0, delta)), mu


def _kernel(features, labels, *, num_classes, shrinkage):
    n = features.shape[0]
    x = features - features.mean(axis=0) if shrinkage else _stats.standardize_columns(features)
    u, s = _stats.thin_svd(x)
    keep = s > RELATIVE_RANK_CUTOFF * s[0]
    energy = _class_mean_energy(u, keep, labels, num_classes)
    if not shrinkage:
        return jnp.sum(energy)
    a, mu = ledoit_wolf_shrinkage(x, s)
    weights = (1.0 - a) * s * s / ((1.0 - a) * s * s / n + a * mu) / (n - 1)
    return jnp.sum(weights * energy)


def _prepare(labels, num_classes, *, n, d, shrinkage=False):
    return _labels.prepare_class_labels(labels, num_classes, n=n, d=d, shrinkage=bool(shrinkage))


SPEC = _engine.EstimatorSpec(
    name="hscore",
    input_kind="features",
    prepare=_prepare,
    kernel=_kernel,
    description="H-score (Bao et al. 2019); shrinkage=True: Ledoit-Wolf regularised (Ibrahim et al. 2022)",
)


def hscore(features: jax.typing.ArrayLike, labels, num_classes: int, *, shrinkage: bool = False) -> jax.Array:
    """H-score (Bao et al., ICIP 2019), or the regularised H-score (Ibrahim et al., ICLR 2022).

    Args:
      features: [N, D] probe features.
      labels: [N] int target labels in [0, num_classes).
      num_classes: C, the number of target classes.
      shrinkage: use the Ledoit-Wolf shrunk covariance (robust when D is large relative to N).

    Returns:
      Scalar. Higher predicts better transfer.
    """
    return _engine.run(SPEC, features, labels, num_classes, shrinkage=shrinkage)
