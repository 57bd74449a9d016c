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

from parc_jax.estimators import _blocked, _engine, _labels, _stats

# `method="auto"` uses the dense N x N distance matrix up to this many samples, row blocks above.
DENSE_MAX_N = 4096


def squared_distances(queries: jax.Array, points: jax.Array | None = None) -> jax.Array:
    """||q - p||^2 for all pairs, [B, D] x [N, D] -> [B, N] (callers centre the data first); without
    `points`, between the queries themselves, from their symmetric Gram matrix (`_stats.gram`)."""
    q2 = jnp.sum(queries**2, axis=1)
    if points is None:
        p2, products = q2, _stats.gram(queries)
    else:
        p2, products = jnp.sum(points**2, axis=1), _stats.matmul(queries, points.T)
    return jnp.maximum(q2[:, None] + p2[None, :] - 2.0 * products, 0.0)


def vote_hits(votes: jax.Array, truth: jax.Array, num_classes: int) -> jax.Array:
    """k x the per-sample score of the release's vote rule, [B, k] neighbour labels -> [B] int32 in [0, k].

    Majority vote (smallest label on a tie) scores k when right; when all k neighbours have different
    labels the sample scores the number of neighbours carrying its label.
    """
    k = votes.shape[1]
    counts = jax.nn.one_hot(votes, num_classes, dtype=jnp.int32).sum(axis=1)  # [B, C]
    majority = jnp.argmax(counts, axis=1)  # first maximum = smallest label on a tie
    all_different = jnp.max(counts, axis=1) == 1
    matches = jnp.sum(votes == truth[:, None], axis=1, dtype=jnp.int32)
    return jnp.where(all_different, matches, k * (majority == truth).astype(jnp.int32))


def vote_accuracy(votes: jax.Array, truth: jax.Array, num_classes: int) -> jax.Array:
    """Per-sample score of the release's vote rule, [B, k] neighbour labels -> [B] in [0, 1]."""
    return vote_hits(votes, truth, num_classes).astype(jnp.float32) / votes.shape[1]


def _accuracy(total_hits: jax.Array, n: int, k: int) -> jax.Array:
    return 100.0 * total_hits.astype(jnp.float32) / (k * n)


def _kernel(features, labels, *, num_classes, k, plan=None):
    n = features.shape[0]
    x = features - features.mean(axis=0)  # distances are translation invariant; centring limits cancellation
    if plan is not None:
        hits = _blocked.knn_hits(x, labels, plan, k=k, vote_hits=lambda v, t: vote_hits(v, t, num_classes))
        return _accuracy(hits, n, k)
    distances = squared_distances(x)
    distances = jnp.where(jnp.eye(n, dtype=bool), jnp.inf, distances)  # leave one out
    _, neighbours = jax.lax.top_k(-distances, k)  # equal values: lower index first
    return _accuracy(jnp.sum(vote_hits(labels[neighbours], labels, num_classes)), n, k)


def check_method(method) -> str:
    if method not in ("auto", "dense", "blocked"):
        raise ValueError(f"method must be 'auto', 'dense' or 'blocked', got {method!r}")
    return method


def _prepare(labels, num_classes, *, n, d, k=1, method="auto", block_size=None):
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k < n:
        raise ValueError(f"k must be an int in [1, N-1] = [1, {n - 1}], got {k!r}")
    method = check_method(method)
    block_size = _blocked.check_block_size(block_size)
    if method == "auto":
        method = "dense" if n <= DENSE_MAX_N else "blocked"
    plan = _blocked.plan_blocks(n, block_size) if method == "blocked" else None
    return _labels.prepare_class_labels(labels, num_classes, n=n, d=d, k=int(k), plan=plan)


SPEC = _engine.EstimatorSpec(
    name="knn",
    input_kind="features",
    prepare=_prepare,
    kernel=_kernel,
    description="leave-one-out kNN accuracy x100 (PARC release's vote rule)",
)


def knn(
    features: jax.typing.ArrayLike,
    labels,
    num_classes: int,
    *,
    k: int = 1,
    method: str = "auto",
    block_size: int | None = None,
) -> jax.Array:
    """Leave-one-out kNN accuracy x100 with the PARC release's vote rule.

    Args:
      features: [N, D] probe features.
      labels: [N] int target labels in [0, num_classes).
      num_classes: C, the number of target classes.
      k: number of neighbours (1 <= k < N).
      method: "dense" (the N x N distance matrix), "blocked" (row blocks of `block_size` rows, memory
        O(block_size x N), spread over the local devices; the same result) or "auto" (dense up to
        N = 4096).
      block_size: rows per block of the blocked path; default about 4M distances per block.

    Returns:
      Scalar in [0, 100].
    """
    return _engine.run(SPEC, features, labels, num_classes, k=k, method=method, block_size=block_size)
