"""SFDA: Self-challenging Fisher Discriminant Analysis (Shao, Zhao, Ge, Zhang, Wang, Luo, ECCV 2022).

Two fits of the regularised Fisher classifier of `_fisher` (see there for the formula and its float32
form), with a confidence mix (ConfMix) between them:

1. alpha = max(exp(-5 lambda), 1e-10), lambda a three-step power estimate of the top eigenvalue of S_w;
   p = the Fisher classifier's probabilities p(c | x_i).
2. q = row-softmax of p (the release softmaxes the probabilities once more "to soften" them); each
   sample of class c becomes q_ic x_i + (1 - q_ic) m_c, m_c the mean of the other C - 1 class means.
3. The Fisher classifier refitted on the mixed samples with the same alpha gives p';
   SFDA = mean_i p'(y_i | x_i) (no log, as released).

Release: TencentARC/SFDA `metrics.py` (`SFDA_Score`). Differences: the release's ConfMix writes into the
caller's array (here nothing is modified), and it counts the classes present in the labels; so does this
port (absent classes get prior 0 and stay out of m_c). When N - C < D, S_w is singular, alpha hits its
floor and the score saturates at 1 (as released); `n_dims=` projects on the first principal axes first
(exact PCA), which avoids that.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from parc_jax.estimators import _engine, _fisher, _labels, _stats, _validation


def sfda_kernel(x: jax.Array, labels: jax.Array, *, num_classes: int) -> jax.Array:
    """SFDA of features x [N, D] (already reduced)."""
    z = _fisher.span_coordinates(x)
    alpha = _fisher.sfda_shrinkage(x, z, labels, num_classes)
    probs = _fisher.probabilities(z, labels, num_classes, alpha, x.shape[1])
    present = jnp.bincount(labels, length=num_classes) > 0
    soft = jax.nn.softmax(jnp.where(present, probs, -jnp.inf), axis=1)
    confidence = jnp.take_along_axis(soft, labels[:, None], axis=1)
    means, _ = _fisher.class_means(z, labels, num_classes)
    means = jnp.where(present[:, None], means, 0.0)
    others = (means.sum(axis=0) - means) / (present.sum() - 1)
    mixed = confidence * z + (1.0 - confidence) * others[labels]
    return _fisher.true_class_mean(_fisher.probabilities(mixed, labels, num_classes, alpha, x.shape[1]), labels)


def _kernel(features, labels, *, num_classes, n_dims):
    return sfda_kernel(_stats.reduce_dims(features, n_dims), labels, num_classes=num_classes)


def prepare_reduced(labels, num_classes, *, n, d, n_dims=None):
    """Class labels, and n_dims checked and clamped to min(N, D)."""
    return _labels.prepare_class_labels(labels, num_classes, n=n, d=d, n_dims=_validation.check_n_dims(n_dims, n, d))


SPEC = _engine.EstimatorSpec(
    name="sfda",
    input_kind="features",
    prepare=prepare_reduced,
    kernel=_kernel,
    description="SFDA (Shao et al. 2022): regularised Fisher classifier after ConfMix, mean true-class probability",
)


def sfda(features: jax.typing.ArrayLike, labels, num_classes: int, *, n_dims: int | None = None) -> jax.Array:
    """SFDA score (Shao et al., ECCV 2022), as TencentARC/SFDA computes it.

    Args:
      features: [N, D] probe features.
      labels: [N] int target labels in [0, num_classes).
      num_classes: C.
      n_dims: if given, exact PCA to this many dimensions first (clamped to min(N, D)). Without it the
        score saturates at 1 whenever N - C < D.

    Returns:
      Scalar in [0, 1]: mean probability of the true class after ConfMix. Higher predicts better transfer.
    """
    return _engine.run(SPEC, features, labels, num_classes, n_dims=n_dims)
