"""NCE: Negative Conditional Entropy (Tran, Nguyen, Hassner, ICCV 2019).

With z_i = argmax of the source model's probabilities (a hard source label) and y_i the target label,

    NCE = -H(Y | Z) = sum_{y, z} P(y, z) log( P(y, z) / P(z) )

over the empirical joint distribution of (y, z) on the probe set (empty cells contribute 0).

`eps > 0` gives the smoothed variant of the PARC release: eps is added to every one of the C x Z
cells of the joint and to every P(z) before the same sum, with C = num_classes and Z = probs.shape[1].
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from parc_jax.estimators import _engine, _labels, _stats


def _kernel(probs, labels, *, num_classes, eps):
    n, num_source = probs.shape
    source = _stats.first_argmax(probs)
    joint = jnp.zeros((num_classes, num_source), jnp.float32).at[labels, source].add(1.0 / n) + eps
    marginal = jnp.zeros((num_source,), jnp.float32).at[source].add(1.0 / n) + eps
    safe_joint = jnp.where(joint > 0, joint, 1.0)
    terms = joint * jnp.log(safe_joint / jnp.where(marginal > 0, marginal, 1.0)[None, :])
    return jnp.sum(jnp.where(joint > 0, terms, 0.0))


def _prepare(labels, num_classes, *, n, d, eps=0.0):
    if not isinstance(eps, (int, float)) or eps < 0:
        raise ValueError(f"eps must be a float >= 0, got {eps!r}")
    return _labels.prepare_class_labels(labels, num_classes, n=n, d=d, eps=float(eps))


SPEC = _engine.EstimatorSpec(
    name="nce",
    input_kind="probs",
    prepare=_prepare,
    kernel=_kernel,
    description="NCE (Tran et al. 2019): negative conditional entropy of target given hard source labels",
)


def nce(probs: jax.typing.ArrayLike, labels, num_classes: int, *, eps: float = 0.0) -> jax.Array:
    """NCE score (Tran et al., ICCV 2019): -H(Y | Z) with Z the argmax source class.

    Args:
      probs: [N, Z] source-class probabilities (only their argmax is used).
      labels: [N] int target labels in [0, num_classes).
      num_classes: C, the number of target classes.
      eps: 0 for the exact conditional entropy; 1e-5 reproduces the PARC release's smoothed variant.

    Returns:
      Scalar, <= 0 for eps = 0. Higher predicts better transfer.
    """
    return _engine.run(SPEC, probs, labels, num_classes, eps=eps)
