"""LogME: Logarithm of Maximum Evidence (You, Liu, Wang, Long, ICML 2021), fixed-point solver of
"Ranking and Tuning Pre-trained Models" (You et al., JMLR 2022).

For each target column y (the one-vs-rest indicator of a class, or a regression target) LogME fits
the Bayesian linear model y = F w + noise, w ~ N(0, alpha^-1 I), noise ~ N(0, beta^-1), and reports
the maximised log evidence per sample. With the thin SVD F = U diag(s) V^T (k = min(N, D) values),
sigma = s^2, x = U^T y and r = ||y - U U^T y||^2 (computed directly, not as ||y||^2 - ||x||^2, which
cancels badly in float32), the fixed point iterates, with t = alpha / beta,

    gamma = sum sigma / (sigma + t)
    m2    = sum sigma x^2 / (sigma + t)^2                  (= ||m||^2, m the posterior mean)
    res2  = sum x^2 / (1 + sigma / t)^2 + r                (= ||y - F m||^2)
    alpha = gamma / (m2 + 1e-5),   beta = (N - gamma) / (res2 + 1e-5)

for at most 11 steps, stopping once t changes by at most 0.1 % (relative), and then

    evidence = [ D/2 log alpha + N/2 log beta - 1/2 sum log(alpha + beta sigma)
                 - beta/2 res2 - alpha/2 m2 - N/2 log(2 pi) ] / N.

The score is the mean evidence over the targets. As in the published code the sum of
log(alpha + beta sigma) runs over the k singular values, so for D > N the D - N zero eigenvalues of
F^T F do not enter it. One SVD per model serves every target; the targets are solved together.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from parc_jax.estimators import _engine, _stats, _validation

MAX_STEPS = 11
TOLERANCE = 1e-3
EPSILON = 1e-5


def _fixed_point(sigma, x, residual, n):
    """Fixed-point iterations for one target; returns (alpha, beta, m2, res2)."""
    x2 = x * x

    def step(state):
        count, alpha, beta, _, _, _ = state
        t = alpha / beta
        gamma = jnp.sum(sigma / (sigma + t))
        m2 = jnp.sum(sigma * x2 / (t + sigma) ** 2)
        res2 = jnp.sum(x2 / (1.0 + sigma / t) ** 2) + residual
        alpha = gamma / (m2 + EPSILON)
        beta = (n - gamma) / (res2 + EPSILON)
        converged = jnp.abs(alpha / beta - t) / t <= TOLERANCE
        return count + 1, alpha, beta, m2, res2, converged

    def keep_going(state):
        count, *_, converged = state
        return (count < MAX_STEPS) & ~converged

    one, zero = jnp.float32(1.0), jnp.float32(0.0)
    _, alpha, beta, m2, res2, _ = jax.lax.while_loop(keep_going, step, (0, one, one, zero, zero, False))
    return alpha, beta, m2, res2


def evidence(features: jax.Array, targets: jax.Array, width=None) -> jax.Array:
    """Maximum log evidence per sample for each column of `targets` [N, K]; returns [K].

    `width` (traced; default all D columns): how many leading columns of `features` are the model's,
    the rest being zero padding. Padding to D' columns adds min(N, D') - min(N, width) zero singular
    values; only the min(N, width) largest enter the sums, and D in the evidence is `width`, so the
    value is that of the unpadded features.
    """
    n, d = features.shape
    width = d if width is None else width
    u, sigma = _stats.gram_eigh(features)
    kept = jnp.arange(sigma.shape[0]) < jnp.minimum(n, width)
    sigma, u = jnp.where(kept, sigma, 0.0), jnp.where(kept, u, 0.0)
    projections = _stats.matmul(u.T, targets)  # [k, K]
    residuals = jnp.sum((targets - _stats.matmul(u, projections)) ** 2, axis=0)  # [K]
    alpha, beta, m2, res2 = jax.vmap(_fixed_point, in_axes=(None, 1, 0, None))(sigma, projections, residuals, n)
    log_terms = jnp.log(alpha[:, None] + beta[:, None] * sigma[None, :])
    log_det = jnp.sum(jnp.where(kept, log_terms, 0.0), axis=1)
    total = (
        width / 2.0 * jnp.log(alpha)
        + n / 2.0 * jnp.log(beta)
        - 0.5 * log_det
        - beta / 2.0 * res2
        - alpha / 2.0 * m2
        - n / 2.0 * math.log(2 * math.pi)
    )
    return total / n


def _kernel(features, labels, *, width, num_classes, n_dims):
    targets = labels if num_classes == 0 else jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)
    return jnp.mean(evidence(_stats.reduce_dims(features, n_dims), targets, width if n_dims is None else None))


def _prepare(labels, num_classes, *, n, d, n_dims=None):
    n_dims = _validation.check_n_dims(n_dims, n, d)
    if np.ndim(labels) == 2 and np.issubdtype(np.asarray(labels).dtype, np.floating):
        # Regression or multi-label targets given as a float [N, K] matrix; num_classes is unused.
        return (_validation.check_targets(labels, n),), dict(num_classes=0, n_dims=n_dims)
    num_classes = _validation.check_num_classes(num_classes)
    labels = _validation.check_labels(labels, n, num_classes)
    return (labels,), dict(num_classes=num_classes, n_dims=n_dims)


SPEC = _engine.EstimatorSpec(
    zero_columns_exact=lambda **_: True,  # exact through `width` (see `evidence`)
    takes_width=True,
    name="logme",
    input_kind="features",
    prepare=_prepare,
    kernel=_kernel,
    description="LogME (You et al. 2021): maximum evidence of a Bayesian linear head, fixed-point solver",
)


def logme(features: jax.typing.ArrayLike, labels, num_classes: int | None, *, n_dims: int | None = None) -> jax.Array:
    """LogME score (You et al., ICML 2021; fixed-point solver of You et al., JMLR 2022).

    Args:
      features: [N, D] probe features, used as given (no standardisation, as published).
      labels: [N] int class labels in [0, num_classes) (one-vs-rest targets, one per class), or a float
        [N, K] matrix of regression / multi-label targets.
      num_classes: C for int labels (the score averages over all C classes); ignored for float targets.
      n_dims: if given, exact PCA to this many dimensions first (clamped to min(N, D)).

    Returns:
      Scalar: mean log evidence per sample over the targets. Higher predicts better transfer.
    """
    return _engine.run(SPEC, features, labels, num_classes, n_dims=n_dims)
