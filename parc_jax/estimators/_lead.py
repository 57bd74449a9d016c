"""LEAD (Hu et al., "LEAD: Exploring Logit Space Evolution for Model Selection", CVPR 2024), as TE-Bench
implements it.

No official code was released; the only implementation, TE-Bench's (alizkzm/te-guide
`guide/scores/dynamics.py`, `LEAD`, defaults S = 8, t = 10, ridge 1e-3), computes: Z = X centred and
divided by its mean row norm (+1e-12); initial logits L0 = Z W of the ridge classifier
W = (Z^T Z + 1e-3 I)^-1 Z^T Y (Y one-hot); per class c a decay d_c = exp(-lambda_bar t); relaxed logits
F_i = (1 - d_{y_i}) Y_i + d_{y_i} L0_i; and LEAD = mean_i log(softmax(F_i)_{y_i} + 1e-12). Higher is
better.

Caveat: TE-Bench's lambda_bar is the mean over the sum of the eigenvalues of a per-class NTK Gram matrix
of m = min(S, n_c) samples, i.e. exactly 1/m whatever the network: its random MLP and sample draw
cancel, and d_c = exp(-t / min(S, n_c)). That is what is computed here (deterministic); a meaningful
eigenvalue term needs the paper's exact algorithm, which is not public. The softmax runs over all
num_classes columns (TE-Bench's K = max label + 1).

The ridge logits use the smaller Gram matrix: for N <= D, L0 = Z Z^T (Z Z^T + r I)^-1 Y
= Y - r (Z Z^T + r I)^-1 Y (push-through identity), else L0 = Z (Z^T Z + r I)^-1 Z^T Y, each by a
Cholesky solve.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy import linalg

from parc_jax.estimators import _engine, _labels, _stats

SAMPLES = 8
TIME = 10.0
RIDGE = 1e-3


def ridge_logits(z: jax.Array, targets: jax.Array, ridge: float) -> jax.Array:
    """Z (Z^T Z + ridge I)^-1 Z^T targets, through whichever of the two Gram matrices is smaller."""
    n, d = z.shape
    if n <= d:
        factor = linalg.cho_factor(_stats.gram(z) + ridge * jnp.eye(n, dtype=z.dtype))
        return targets - ridge * linalg.cho_solve(factor, targets)
    factor = linalg.cho_factor(_stats.gram(z.T) + ridge * jnp.eye(d, dtype=z.dtype))
    return _stats.matmul(z, linalg.cho_solve(factor, _stats.matmul(z.T, targets)))


def _kernel(features, labels, *, num_classes):
    centered = features - features.mean(axis=0)
    z = centered / (jnp.mean(jnp.linalg.norm(centered, axis=1)) + 1e-12)
    one_hot = jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)
    initial = ridge_logits(z, one_hot, RIDGE)
    counts = jnp.bincount(labels, length=num_classes).astype(jnp.float32)
    decay = jnp.exp(-TIME / jnp.minimum(SAMPLES, jnp.maximum(counts, 1.0)))[labels][:, None]
    relaxed = (1.0 - decay) * one_hot + decay * initial
    probability = jnp.take_along_axis(jax.nn.softmax(relaxed, axis=1), labels[:, None], axis=1)[:, 0]
    return jnp.mean(jnp.log(probability + 1e-12))


def _prepare(labels, num_classes, *, n, d):
    return _labels.prepare_class_labels(labels, num_classes, n=n, d=d)


SPEC = _engine.EstimatorSpec(
    name="lead",
    input_kind="features",
    prepare=_prepare,
    kernel=_kernel,
    description="LEAD (Hu et al. 2024) as TE-Bench implements it: relaxed ridge logits, mean log-likelihood",
)


def lead(features: jax.typing.ArrayLike, labels, num_classes: int) -> jax.Array:
    """LEAD score as implemented by TE-Bench (Hu et al., CVPR 2024; see the module docstring's caveat).

    Args:
      features: [N, D] probe features.
      labels: [N] int target labels in [0, num_classes).
      num_classes: C, the number of target classes.

    Returns:
      Scalar <= 0: mean log-likelihood of the relaxed logits. Higher predicts better transfer.
    """
    return _engine.run(SPEC, features, labels, num_classes)
