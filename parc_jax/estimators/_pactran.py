"""PACTran (Ding, Chen, Liu, Saeedi, Guo, ECCV 2022): PAC-Bayesian transferability costs.

Each variant is the optimised PAC-Bayes bound of a simple target head, per sample and class; LOWER
predicts better transfer (these are costs, as released). Reference: google-research/pactran_metrics
`compute_metrics.py` (`calculate_pac_dir`, `calculate_pac_gamma`, `calculate_pac_gauss`). With Y [N, C]
the one-hot labels, P [N, Z] the source-class probabilities, a0_c = n_c / N + 1e-10 (prior
concentration alpha = 1) and log s = log(P + 1e-10):

PACTran-Dirichlet: ten mean-field steps from q = P,

    A = a0 + Y^T q  [C, Z],   q_i = softmax_z( log s_iz + digamma(A)_{y_i z} - digamma(sum_c A_cz) ),

then, with A from the last step, L0 = lgamma(sum a0) - sum lgamma(a0), L_z = lgamma(sum_c A_cz) -
sum_c lgamma(A_cz):

    PAC_Dir = -1/(N C) [ sum_z (L0 - L_z) - sum_iz q_iz (log q_iz - log s_iz) ].

PACTran-Gamma (beta = 1): ten steps of A = a0 + Y^T q, l_i = sum_z P_iz sum_c A_cz,
q_i = softmax_z(log s_iz + digamma(A)_{y_i z}); then

    PAC_Gamma = 1/(N C) [ sum_cz (lgamma(a0_c) - lgamma(A_cz)) + sum_i (KL_i + log l_i - 1) ] + 1,

KL_i = sum_z q_iz (log q_iz - log s_iz). Both are fixed ten-step loops (`lax.fori_loop`), as released.

PACTran-Gaussian: the MAP fit of a linear softmax head on the centred features Xc under a Gaussian
prior, and a curvature (Laplace) term,

    L(W, b) = (1/N) sum_i CE(Xc_i W + b, y_i) + ||W||^2 / (2 lam N),
    h = sum_dc [sum_i Xc_id^2 p_ic (1 - p_ic) + 1/(lam N)] + sum_c sum_i p_ic (1 - p_ic),
    PAC_Gauss = L* + (D C / (2 lam N)) (sigma2 / D) log(h lam N / (D C) + 1e-10),

at the optimum (p its softmax). The release runs SciPy's L-BFGS-B for at most 100 steps from a random
W (it stops on a relative loss decrease of 1e-6, often after 20 to 40 steps); here the fit is solved to
convergence (`_softmax_regression`), the minimiser the bound is defined at: 3e-5 to 3e-3 relative from
the release's numbers, about its spread over random initialisations. The release's pairs of
(lam, sigma2) are (10, 1000 or 100), (1, 100 or 10), (0.1, 10 or 1).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy import special

from parc_jax.estimators import _engine, _labels, _softmax_regression, _stats

STEPS = 10
TINY = 1e-10


def _prior_and_log_s(probs, labels, num_classes):
    n = probs.shape[0]
    one_hot = jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)
    a0 = one_hot.sum(axis=0) / n + TINY  # [C]
    return one_hot, a0, jnp.log(probs + TINY)


def _posterior_counts(one_hot, a0, q):
    return a0[:, None] + jax.lax.dot(one_hot.T, q, precision=jax.lax.Precision.HIGHEST)  # [C, Z]


def _dirichlet_kernel(probs, labels, *, num_classes):
    n, z = probs.shape
    one_hot, a0, log_s = _prior_and_log_s(probs, labels, num_classes)

    def step(_, state):
        _, log_q = state
        a = _posterior_counts(one_hot, a0, jnp.exp(log_q))
        logits = log_s + special.digamma(a)[labels] - special.digamma(a.sum(axis=0))[None, :]
        return a, jax.nn.log_softmax(logits, axis=1)

    start = (jnp.broadcast_to(a0[:, None], (num_classes, z)), jnp.log(probs))
    a, log_q = jax.lax.fori_loop(0, STEPS, step, start)
    # L0 - L_z per source class, as differences of like terms (no large cancelling sums in float32)
    log_norm = (
        special.gammaln(a0.sum())
        - special.gammaln(a.sum(axis=0))
        - jnp.sum(special.gammaln(a0)[:, None] - special.gammaln(a), axis=0)
    )
    kl = jnp.sum(jnp.exp(log_q) * (log_q - log_s))
    return -(jnp.sum(log_norm) - kl) / (n * num_classes)


def _gamma_kernel(probs, labels, *, num_classes):
    n, z = probs.shape
    one_hot, a0, log_s = _prior_and_log_s(probs, labels, num_classes)

    def step(_, state):
        _, log_q = state
        a = _posterior_counts(one_hot, a0, jnp.exp(log_q))
        return a, jax.nn.log_softmax(log_s + special.digamma(a)[labels], axis=1)

    start = (jnp.broadcast_to(a0[:, None], (num_classes, z)), jnp.log(probs))
    a, log_q = jax.lax.fori_loop(0, STEPS, step, start)
    rate = jax.lax.dot(probs, a.sum(axis=0), precision=jax.lax.Precision.HIGHEST)  # [N] l_i
    prior_terms = jnp.sum(special.gammaln(a0)[:, None] - special.gammaln(a))
    sample_terms = jnp.sum(jnp.exp(log_q) * (log_q - log_s)) + jnp.sum(jnp.log(rate) - 1.0)
    return (prior_terms + sample_terms) / (n * num_classes) + 1.0


def _gaussian_kernel(features, labels, class_mask, lam, sigma2, *, num_classes, max_steps):
    n, d = features.shape
    centered = features - _stats.column_mean(features)
    l2 = 1.0 / (lam * n)
    coordinates, _ = _softmax_regression.training_coordinates(centered)
    fit = _softmax_regression.fit(
        coordinates,
        labels,
        jnp.ones((n,), jnp.float32),
        num_classes=num_classes,
        l2=l2,
        max_steps=max_steps,
        class_mask=class_mask,
    )
    p = jax.nn.softmax(fit.logits, axis=1)
    spread = p * (1.0 - p)  # [N, C]
    row_norms = jnp.sum(centered**2, axis=1)
    curvature = jnp.sum(row_norms @ spread) + d * num_classes * l2 + jnp.sum(spread)
    sigma2_inv = curvature / (l2 * d * num_classes) + TINY
    return fit.loss + 0.5 * d * num_classes * l2 * (sigma2 / d) * jnp.log(sigma2_inv)


def _prepare_probs(labels, num_classes, *, n, d):
    return _labels.prepare_class_labels(labels, num_classes, n=n, d=d)


def _positive(name, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a number > 0, got {value!r}")
    return float(value)


def _prepare_gaussian(labels, num_classes, *, n, d, lam=1.0, sigma2=10.0, max_steps=None):
    """Labels, the mask of the classes present and the two scales as traced arguments (one program
    serves every lam and sigma2)."""
    labels, num_classes = _labels.checked_class_labels(labels, num_classes, n)
    scales = np.float32(_positive("lam", lam)), np.float32(_positive("sigma2", sigma2))
    present = np.asarray(np.bincount(labels, minlength=num_classes) > 0)
    static = dict(num_classes=num_classes, max_steps=_softmax_regression.check_max_steps(max_steps))
    return (np.asarray(labels), present, *scales), static


DIRICHLET = _engine.EstimatorSpec(
    name="pactran_dirichlet",
    input_kind="probs",
    prepare=_prepare_probs,
    kernel=_dirichlet_kernel,
    description="PACTran-Dirichlet (Ding et al. 2022): PAC-Bayes cost of a Dirichlet head on source probs",
    higher_is_better=False,
)
GAMMA = _engine.EstimatorSpec(
    name="pactran_gamma",
    input_kind="probs",
    prepare=_prepare_probs,
    kernel=_gamma_kernel,
    description="PACTran-Gamma (Ding et al. 2022): PAC-Bayes cost of a Gamma head on source probs",
    higher_is_better=False,
)
GAUSSIAN = _engine.EstimatorSpec(
    name="pactran_gaussian",
    input_kind="features",
    prepare=_prepare_gaussian,
    kernel=_gaussian_kernel,
    description="PACTran-Gaussian (Ding et al. 2022): PAC-Bayes cost of a linear head on features",
    higher_is_better=False,
)


def pactran_dirichlet(probs: jax.typing.ArrayLike, labels, num_classes: int) -> jax.Array:
    """PACTran-Dirichlet (Ding et al., ECCV 2022), prior concentration alpha = 1.

    Args:
      probs: [N, Z] softmax probabilities of the source model's own head.
      labels: [N] int target labels in [0, num_classes).
      num_classes: C, the number of target classes (the cost is per sample and class).

    Returns:
      Scalar cost. LOWER predicts better transfer.
    """
    return _engine.run(DIRICHLET, probs, labels, num_classes)


def pactran_gamma(probs: jax.typing.ArrayLike, labels, num_classes: int) -> jax.Array:
    """PACTran-Gamma (Ding et al., ECCV 2022), alpha = 1, beta = 1.

    Args:
      probs: [N, Z] softmax probabilities of the source model's own head.
      labels: [N] int target labels in [0, num_classes).
      num_classes: C, the number of target classes.

    Returns:
      Scalar cost. LOWER predicts better transfer.
    """
    return _engine.run(GAMMA, probs, labels, num_classes)


def pactran_gaussian(
    features: jax.typing.ArrayLike,
    labels,
    num_classes: int,
    *,
    lam: float = 1.0,
    sigma2: float = 10.0,
    max_steps: int | None = None,
) -> jax.Array:
    """PACTran-Gaussian (Ding et al., ECCV 2022): MAP linear head plus a Laplace curvature term.

    Args:
      features: [N, D] probe features (centred here).
      labels: [N] int target labels in [0, num_classes).
      num_classes: C, the number of target classes.
      lam: prior scale; the L2 weight is 1 / (lam N) (the release's `lda_factor`).
      sigma2: the posterior variance factor (the release's s2; it uses sigma2 / D).
      max_steps: cap on the L-BFGS steps of the fit (default `_softmax_regression.MAX_STEPS`); it stops
        earlier once the gradient is negligible.

    Returns:
      Scalar cost. LOWER predicts better transfer.
    """
    return _engine.run(GAUSSIAN, features, labels, num_classes, lam=lam, sigma2=sigma2, max_steps=max_steps)
