"""ETran: Energy-based transferability (Gholami, Akbari, Wang, Zhang, ICCV 2023), as the authors'
release (mgholamikn/ETran) computes it for classification.

* Energy term: the release calls `Energy_Score(features, 0.5, 'bot')`, so the penultimate features
  serve as logits: e_i = logsumexp_d x_id, and the term is the mean of the k = floor(5 N / 1000)
  smallest e_i (N >= 200, else k = 0 and the release returns NaN; here a ValueError).
* LDA term: mean_i p(y_i | x_i) of the regularised Fisher classifier that ETran copied from SFDA
  (`_fisher`, SFDA's first stage). Release difference (a bug fixed): the release takes
  `numpy.linalg.eigh(inv(S_wa) @ S_b)` of a non-symmetric matrix; `eigh` reads one triangle and returns
  an orthonormal V, so V V^T = I and its classifier collapses to a Euclidean nearest-mean softmax. The
  generalised symmetric problem of SFDA, which the class was copied from, gives W = M S_wa^-1 (see
  `_fisher`). Like SFDA it saturates at 1 when N - C < D; `n_dims=` (exact PCA) avoids that.
* ETran over a bank (the release's `tw.py`): both terms min-max scaled over the models of one target,
  ETran = 0.15 energy' + 0.85 lda'. The release's regression (SVD) term exists there only as dead code
  and is not part of the classification score.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from parc_jax.estimators import _combine, _engine, _fisher, _labels, _sfda, _stats

ENERGY_FRACTION = 5 / 1000  # floor(0.5 * 10) / 1000: the release's fraction of lowest-energy samples
WEIGHTS = (0.15, 0.85)  # (energy, lda) in the release's combination


def energy_count(n: int) -> int:
    """How many lowest-energy samples the energy term averages, floor(5 N / 1000); ValueError below 1."""
    count = int(ENERGY_FRACTION * n)
    if count < 1:
        raise ValueError(
            f"the ETran energy term averages the floor(5 N / 1000) lowest energies: N={n} gives 0; "
            "it needs N >= 200 probe samples"
        )
    return count


def energy_and_finite(features: jax.Array, count: int) -> tuple[jax.Array, jax.Array]:
    """(mean of the `count` smallest logsumexp of the rows of `features`, whether every entry is finite).

    e_i = m_i + log sum_d exp(x_id - m_i), m_i = max_d x_id: two passes over the rows (`jax.nn.logsumexp`
    adds guards for infinite maxima that cost as much again). The finiteness flag comes from the same
    passes: NaN or +inf in a row makes e_i NaN (x - m is NaN at an infinite maximum), and -inf is the
    only other non-finite value, caught by the row minimum (a sibling of the row maximum).
    """
    top = jnp.max(features, axis=1)
    bottom = jnp.min(features, axis=1)
    energies = top + jnp.log(jnp.sum(jnp.exp(features - top[:, None]), axis=1))
    lowest, _ = jax.lax.top_k(-energies, count)
    return -jnp.mean(lowest), jnp.all(jnp.isfinite(energies) & (bottom > -jnp.inf))


def energy(features: jax.Array, count: int) -> jax.Array:
    """Mean of the `count` smallest logsumexp of the rows of `features`."""
    return energy_and_finite(features, count)[0]


def lda(features: jax.Array, labels: jax.Array, num_classes: int) -> jax.Array:
    """The fixed LDA term of (already reduced) features."""
    z = _fisher.span_coordinates(features)
    alpha = _fisher.sfda_shrinkage(features, z, labels, num_classes)
    return _fisher.true_class_mean(_fisher.probabilities(z, labels, num_classes, alpha, features.shape[1]), labels)


def _energy_kernel(features, labels, *, count):
    del labels
    return energy_and_finite(features, count)


def _lda_kernel(features, labels, *, num_classes, n_dims):
    return lda(_stats.reduce_dims(features, n_dims), labels, num_classes)


def _terms_kernel(features, labels, *, num_classes, n_dims, count):
    return jnp.stack([energy(features, count), _lda_kernel(features, labels, num_classes=num_classes, n_dims=n_dims)])


def _prepare_energy(labels, num_classes, *, n, d):
    (labels,), _ = _labels.prepare_class_labels(labels, num_classes, n=n, d=d)
    return (labels,), dict(count=energy_count(n))


def _prepare_terms(labels, num_classes, *, n, d, n_dims=None):
    label_args, static = _sfda.prepare_reduced(labels, num_classes, n=n, d=d, n_dims=n_dims)
    return label_args, dict(static, count=energy_count(n))


ENERGY_SPEC = _engine.EstimatorSpec(
    name="etran_energy",
    input_kind="features",
    prepare=_prepare_energy,
    kernel=_energy_kernel,
    description="ETran energy term (Gholami et al. 2023): mean of the 0.5% lowest logsumexp of the features",
    checks_finite=True,
    streaming=True,
)
LDA_SPEC = _engine.EstimatorSpec(
    name="etran_lda",
    input_kind="features",
    prepare=_sfda.prepare_reduced,
    kernel=_lda_kernel,
    description="ETran LDA term (Gholami et al. 2023), generalised eigenproblem fixed: mean true-class probability",
)
SPEC = _engine.EstimatorSpec(
    name="etran",
    input_kind="features",
    prepare=_prepare_terms,
    kernel=_terms_kernel,
    description="ETran (Gholami et al. 2023) over a bank: 0.15 energy' + 0.85 lda', each min-max scaled",
    combine=lambda terms: _combine.min_max_combine(terms, WEIGHTS),
)


def etran_energy(features: jax.typing.ArrayLike, labels, num_classes: int) -> jax.Array:
    """ETran's energy term, as released: the mean of the floor(5 N / 1000) smallest logsumexp_d x_id.

    Args:
      features: [N, D] probe features (used as logits, as the release does), N >= 200.
      labels: [N] int target labels in [0, num_classes) (checked; the term does not use them).
      num_classes: C.

    Returns:
      Scalar. Higher predicts better transfer.
    """
    return _engine.run(ENERGY_SPEC, features, labels, num_classes)


def etran_lda(features: jax.typing.ArrayLike, labels, num_classes: int, *, n_dims: int | None = None) -> jax.Array:
    """ETran's LDA term with the release's eigenproblem fixed (equal to SFDA's first-stage score).

    Args:
      features: [N, D] probe features.
      labels: [N] int target labels in [0, num_classes).
      num_classes: C.
      n_dims: if given, exact PCA to this many dimensions first (clamped to min(N, D)). Without it the
        term saturates at 1 whenever N - C < D.

    Returns:
      Scalar in [0, 1]: mean probability of the true class. Higher predicts better transfer.
    """
    return _engine.run(LDA_SPEC, features, labels, num_classes, n_dims=n_dims)


def etran(bank, labels, num_classes: int, *, n_dims: int | None = None) -> jax.Array:
    """ETran scores of the M models of one bank (scores are relative to the bank).

    ETran = 0.15 energy' + 0.85 lda', each term min-max scaled over the bank (`min_max_combine`; a term
    equal for every model contributes 0, where the release divides by zero).

    Args:
      bank: [M, N, D] features or a list of M [N, D_m] arrays, on the same probe set.
      labels: [N] int target labels in [0, num_classes).
      num_classes: C.
      n_dims: exact PCA for the LDA term (see `etran_lda`).

    Returns:
      [M] scores. `score_bank_terms("etran", ...)` gives the unscaled [M, 2] (energy, lda) terms.
    """
    return _engine.run_bank(SPEC, bank, labels, num_classes, n_dims=n_dims)
