"""H-score (Bao, Li, Huang, Wang, Zhou, ICIP 2019) and its shrinkage-regularised version
(Ibrahim, Ponomareva, Mazumder, "Newer is not always better", ICLR 2022).

H-score measures how much of the feature covariance is explained by the class-conditional means:

    H = tr( cov(f)^+ cov(g) ),    g_i = E[f | y = y_i]  (the class mean of sample i's class)

with both covariances over the probe set (ddof = 1), on column-standardised features (as in the PARC
release). No D x D matrix is formed or inverted: with the thin SVD of the standardised features
X = U diag(s) V^T, keeping singular values above 1e-5 s_max (the numerical rank in float32),
g = A X with A the class-averaging matrix, so

    H = tr( (X^T X)^+ X^T A^T A X ) = || A U ||_F^2 = sum_c || sum_{i in c} u_i ||^2 / n_c.

Where D >= N the covariance is singular and H equals C - 1, the rank of the class-mean subspace:
centring leaves the features in 1-perp, and when they span all of it, sum_c ||P 1_c||^2 / n_c is
sum_c (1 - n_c / N). So for N <= D a cheap certificate (`centred_span_is_full`, eigenvalues of the
N x N Gram matrix) decides; the SVD runs only for models without it (rank-deficient probes:
duplicated images, few effective dimensions). On a GPU this matters: cuSOLVER has no batched SVD
above 32 x 32, and 1,000 SVDs of 500 x 500 took 20 s on an H100, the batched eigenvalues 0.3 s.

`shrinkage=True` gives the regularised H-score on centred (not standardised) features,

    H_a = tr( ((1 - a) S + a mu I)^-1 (1 - a) cov(g) ),   S = X^T X / N,  mu = tr(S) / D,

with a the Ledoit-Wolf shrinkage (as `sklearn.covariance.LedoitWolf`). In the eigenbasis of the Gram
matrix (sigma_k = s_k^2) H_a = (1 - a)/(N - 1) sum_k sigma_k ||A u_k||^2 / ((1 - a) sigma_k / N + a mu);
the weights vanish smoothly with sigma_k, so no rank is decided and `gram_eigh` serves (1e-6 relative
to the float64 formula on the golden probes); a itself needs only ||X^T X||_F^2 = sum_k sigma_k^2 and
sum_i ||x_i||^4.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from parc_jax.estimators import _engine, _labels, _stats, _validation

RELATIVE_RANK_CUTOFF = 1e-5
CERTIFIED_GAP = 1e-5  # smallest / largest eigenvalue of the centred Gram matrix that certifies full rank


def _class_mean_energy(u, keep, labels, num_classes):
    """||A u_k||^2 for every column k of u: sum over classes of (class sum)^2 / class count."""
    sums = jax.ops.segment_sum(u, labels, num_segments=num_classes)  # [C, k]
    counts = jnp.bincount(labels, length=num_classes).astype(jnp.float32)
    per_column = jnp.sum(sums**2 / jnp.maximum(counts, 1.0)[:, None], axis=0)
    return jnp.where(keep, per_column, 0.0)


def ledoit_wolf_shrinkage(centered: jax.Array, sigma: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Ledoit-Wolf shrinkage a of the covariance of `centered` [N, D], whose squared singular values
    are `sigma`.

    Returns (a, mu) with mu = tr(S) / D the scale of the shrinkage target mu I.
    """
    n, d = centered.shape
    eigenvalues = sigma / n  # of S = X^T X / N; the other D - k are 0
    mu = jnp.sum(eigenvalues) / d
    # delta = ||S - mu I||_F^2 / D, beta = (sum_i ||x_i||^4 / N - ||S||_F^2) / (N D), capped at delta.
    delta = (jnp.sum((eigenvalues - mu) ** 2) + (d - eigenvalues.shape[0]) * mu**2) / d
    beta = (jnp.sum(jnp.sum(centered**2, axis=1) ** 2) / n - jnp.sum(eigenvalues**2)) / (n * d)
    beta = jnp.minimum(beta, delta)
    return jnp.where(beta == 0, 0.0, beta / jnp.where(delta == 0, 1.0, delta)), mu


def _plain_exact(x, labels, num_classes):
    """H = sum over the directions of the numerical rank of ||A u_k||^2, from the thin SVD of x."""
    u, s = _stats.thin_svd(x)
    keep = s > RELATIVE_RANK_CUTOFF * s[0]
    return jnp.sum(_class_mean_energy(u, keep, labels, num_classes))


def centred_span_is_full(x: jax.Array) -> jax.Array:
    """Whether column-centred x [N, D], N <= D, certainly has numerical rank N - 1 (the most it can have).

    Centring puts the constant vector 1 in the left null space, so X X^T 1 = 0 and adding
    rho 1 1^T / N (rho = tr(X X^T) / (N - 1), inside the spectrum) moves that one eigenvalue to rho and
    leaves the others. If the smallest eigenvalue of the sum exceeds CERTIFIED_GAP lambda_max, every
    singular value in the centred span exceeds sqrt(CERTIFIED_GAP - eigh's error) s_max, far above the
    rank cutoff: float32 `eigvalsh` errs by ~1e-7 lambda_max.
    """
    n = x.shape[0]
    gram = _stats.gram(x)
    eigenvalues = jnp.linalg.eigvalsh(gram + jnp.trace(gram) / ((n - 1) * n))
    return eigenvalues[0] > CERTIFIED_GAP * eigenvalues[-1]


def _plain(x, labels, num_classes):
    """Plain H-score of standardised x. For N <= D with full centred span the directions kept are all
    of 1-perp, so ||A U||_F^2 = sum_c ||P 1_c||^2 / n_c = sum over present classes of (1 - n_c / N):
    the SVD is computed only for the models without that certificate."""
    n, d = x.shape
    if n > d:
        return _plain_exact(x, labels, num_classes)
    counts = jnp.bincount(labels, length=num_classes).astype(jnp.float32)
    full_span_value = jnp.sum(jnp.where(counts > 0, 1.0 - counts / n, 0.0))
    exact = functools.partial(_plain_exact, num_classes=num_classes)
    return _engine.computed_unless(centred_span_is_full(x), full_span_value, exact, x, labels)


def _shrunk(x, labels, num_classes):
    """Regularised H-score of centred x from the Gram eigendecomposition. Its weights vanish smoothly
    with s_k^2 (no rank decision), so the squared singular values of `gram_eigh` serve."""
    n = x.shape[0]
    u, sigma = _stats.gram_eigh(x)
    energy = _class_mean_energy(u, jnp.ones_like(sigma, dtype=bool), labels, num_classes)
    a, mu = ledoit_wolf_shrinkage(x, sigma)
    weights = (1.0 - a) * sigma / ((1.0 - a) * sigma / n + a * mu) / (n - 1)
    return jnp.sum(weights * energy)


def _kernel(features, labels, *, num_classes, shrinkage, n_dims):
    features = _stats.reduce_dims(features, n_dims)
    if shrinkage:
        return _shrunk(features - features.mean(axis=0), labels, num_classes)
    return _plain(_stats.standardize_columns(features), labels, num_classes)


def _prepare(labels, num_classes, *, n, d, shrinkage=False, n_dims=None):
    n_dims = _validation.check_n_dims(n_dims, n, d)
    return _labels.prepare_class_labels(labels, num_classes, n=n, d=d, shrinkage=bool(shrinkage), n_dims=n_dims)


SPEC = _engine.EstimatorSpec(
    # The plain H-score's pseudo-inverse drops zero-variance directions; Ledoit-Wolf's target tr(S) / D sees D.
    zero_columns_exact=lambda shrinkage=False, **_: not shrinkage,
    name="hscore",
    input_kind="features",
    prepare=_prepare,
    kernel=_kernel,
    description="H-score (Bao et al. 2019); shrinkage=True: Ledoit-Wolf regularised (Ibrahim et al. 2022)",
)


def hscore(
    features: jax.typing.ArrayLike, labels, num_classes: int, *, shrinkage: bool = False, n_dims: int | None = None
) -> jax.Array:
    """H-score (Bao et al., ICIP 2019), or the regularised H-score (Ibrahim et al., ICLR 2022).

    Args:
      features: [N, D] probe features.
      labels: [N] int target labels in [0, num_classes).
      num_classes: C, the number of target classes.
      shrinkage: use the Ledoit-Wolf shrunk covariance (robust when D is large relative to N).
      n_dims: if given, exact PCA to this many dimensions first (clamped to min(N, D)), as the PARC
        release's `HScore(n_dims=32)`.

    Returns:
      Scalar. Higher predicts better transfer.
    """
    return _engine.run(SPEC, features, labels, num_classes, shrinkage=shrinkage, n_dims=n_dims)
