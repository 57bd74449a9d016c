"""Leave-one-out k-nearest-neighbour accuracy on the probe features (the PARC paper's kNN baseline).

Every probe sample is classified by its k nearest other samples (Euclidean distance on the raw
features) and the score is the accuracy x100. The vote follows the PARC release: the prediction is
the most frequent label among the k neighbours, the smallest label on a tie; when all k neighbours
have different labels, each counts as 1/k of a prediction (the sample scores the fraction of its
neighbours that carry its label). Equal distances are broken by the lower sample index.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from parc_jax.estimators import _engine, _labels, _stats


def squared_distances(queries: jax.Array, points: jax.Array) -> jax.Array:
    """||q - p||^2 for all pairs, [B, D] x [N, D] -> [B, N] (callers centre the data first)."""
    q2 = jnp.sum(queries**2, axis=1)
    p2 = jnp.sum(points**2, axis=1)
    return jnp.maximum(q2[:, None] + p2[None, :] - 2.0 * _stats.matmul(queries, points.T), 0.0)


def vote_accuracy(votes: jax.Array, truth: jax.Array, num_classes: int) -> jax.Array:
    """Per-sample score of the release's vote rule, [B, k] neighbour labels -> [B] in [0, 1]."""
    counts = jax.nn.one_hot(votes, num_classes, dtype=jnp.int32).sum(axis=1)  # [B, C]
    majority = jnp.argmax(counts, axis=1)  # first maximum = smallest label on a tie
    all_different = jnp.max(counts, axis=1) == 1
    fraction = jnp.mean(votes == truth[:, None], axis=1)
    return jnp.where(all_different, fraction, (majority == truth).astype(jnp.float32))


def _kernel(features, labels, *, num_classes, k):
    n = features.shape[0]
    x = features - features.mean(axis=0)  # distances are translation invariant; centring limits cancellation
    distances = squared_distances(x, x)
    distances = jnp.where(jnp.eye(n, dtype=bool), jnp.inf, distances)  # leave one out
    _, neighbours = jax.lax.top_k(-distances, k)  # equal values: lower index first
    return 100.0 * jnp.mean(vote_accuracy(labels[neighbours], labels, num_classes))


def _prepare(labels, num_classes, *, n, d, k=1):
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k < n:
        raise ValueError(f"k must be an int in [1, N-1] = [1, {n - 1}], got {k!r}")
    return _labels.prepare_class_labels(labels, num_classes, n=n, d=d, k=int(k))


SPEC = _engine.EstimatorSpec(
    name="knn",
    input_kind="features",
    prepare=_prepare,
    kernel=_kernel,
    description="leave-one-out kNN accuracy x100 (PARC release's vote rule)",
)


def knn(features: jax.typing.ArrayLike, labels, num_classes: int, *, k: int = 1) -> jax.Array:
    """Leave-one-out kNN accuracy x100 with the PARC release's vote rule.

    Args:
      features: [N, D] probe features.
      labels: [N] int target labels in [0, num_classes).
      num_classes: C, the number of target classes.
      k: number of neighbours (1 <= k < N).

    Returns:
      Scalar in [0, 100].
    """
    return _engine.run(SPEC, features, labels, num_classes, k=k)
