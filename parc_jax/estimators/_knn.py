"""Leave-one-out k-nearest-neighbour accuracy on the probe features (the PARC paper's kNN baseline).

Every probe sample is classified by its k nearest other samples (Euclidean distance on the raw
features, or the cosine distance 1 - cos(x_i, x_j); optionally after an exact PCA to n_dims) and the
score is the accuracy x100. The vote follows the PARC release: the prediction is
the most frequent label among the k neighbours, the smallest label on a tie; when all k neighbours
have different labels, each counts as 1/k of a prediction (the sample scores the fraction of its
neighbours that carry its label). Equal distances are broken by the lower sample index.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from parc_jax.estimators import _blocked, _engine, _labels, _stats, _validation


def squared_distances(queries: jax.Array, points: jax.Array | None = None) -> jax.Array:
    """||q - p||^2 for all pairs, [B, D] x [N, D] -> [B, N] (callers centre the data first); without
    `points`, between the queries themselves, from their symmetric Gram matrix (`_stats.gram`)."""
    q2 = jnp.sum(queries**2, axis=1)
    if points is None:
        p2, products = q2, _stats.gram(queries)
    else:
        p2, products = jnp.sum(points**2, axis=1), _stats.matmul(queries, points.T)
    return jnp.maximum(q2[:, None] + p2[None, :] - 2.0 * products, 0.0)


def majority_vote(votes: jax.Array, num_classes: int) -> tuple[jax.Array, jax.Array]:
    """The most frequent label of each row of [B, k] neighbour labels (the smallest on a tie, as
    scikit-learn's `KNeighborsClassifier`), and its count; both [B] int32."""
    counts = jax.nn.one_hot(votes, num_classes, dtype=jnp.int32).sum(axis=1)  # [B, C]
    return _stats.first_argmax(counts), jnp.max(counts, axis=1)


def vote_hits(votes: jax.Array, truth: jax.Array, num_classes: int) -> jax.Array:
    """k x the per-sample score of the release's vote rule, [B, k] neighbour labels -> [B] int32 in [0, k].

    Majority vote (smallest label on a tie) scores k when right; when all k neighbours have different
    labels the sample scores the number of neighbours carrying its label.
    """
    k = votes.shape[1]
    majority, top_count = majority_vote(votes, num_classes)
    all_different = top_count == 1
    matches = jnp.sum(votes == truth[:, None], axis=1, dtype=jnp.int32)
    return jnp.where(all_different, matches, k * (majority == truth).astype(jnp.int32))


def _accuracy(total_hits: jax.Array, n: int, k: int) -> jax.Array:
    return 100.0 * total_hits.astype(jnp.float32) / (k * n)


def cosine_embedding(x: jax.Array) -> jax.Array:
    """Points whose squared Euclidean distances order the pairs as the cosine distance 1 - cos(x_i, x_j)
    does: unit rows (||u_i - u_j||^2 = 2 - 2 cos), and an extra coordinate that puts an all-zero row at
    distance sqrt(2) (cosine distance 1, as scikit-learn's similarity 0) from every non-zero row."""
    zero = jnp.linalg.norm(x, axis=1, keepdims=True) == 0
    return jnp.concatenate([_stats.normalize_rows(x), zero.astype(x.dtype)], axis=1)


def prepare_points(features: jax.Array, *, n_dims: int | None, metric: str) -> jax.Array:
    """The points whose squared Euclidean distances rank the neighbours: the optional exact PCA scores,
    then the cosine embedding, or centred (distances are translation invariant; centring limits
    cancellation)."""
    x = _stats.reduce_dims(features, n_dims)
    return cosine_embedding(x) if metric == "cosine" else x - x.mean(axis=0)


def _kernel(features, labels, *, num_classes, k, n_dims, metric, plan=None):
    n = features.shape[0]
    x = prepare_points(features, n_dims=n_dims, metric=metric)
    if plan is not None:
        hits = _blocked.knn_hits(x, labels, plan, k=k, vote_hits=lambda v, t: vote_hits(v, t, num_classes))
        return _accuracy(hits, n, k)
    distances = squared_distances(x)
    distances = jnp.where(jnp.eye(n, dtype=bool), jnp.inf, distances)  # leave one out
    _, neighbours = jax.lax.top_k(-distances, k)  # equal values: lower index first
    return _accuracy(jnp.sum(vote_hits(labels[neighbours], labels, num_classes)), n, k)


def check_k(k, num_points: int) -> int:
    """k neighbours among `num_points` candidates: an int in [1, num_points]."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= num_points:
        raise ValueError(f"k must be an int in [1, {num_points}] (the neighbour candidates), got {k!r}")
    return int(k)


def check_metric(metric) -> str:
    if metric not in ("euclidean", "cosine"):
        raise ValueError(f"metric must be 'euclidean' or 'cosine', got {metric!r}")
    return metric


def _prepare(labels, num_classes, *, n, d, k=1, n_dims=None, metric="euclidean", method="auto", block_size=None):
    k = check_k(k, n - 1)
    n_dims = _validation.check_n_dims(n_dims, n, d)
    metric = check_metric(metric)
    method = _blocked.resolve_method(method, n)
    block_size = _blocked.check_block_size(block_size)
    plan = _blocked.plan_blocks(n, block_size) if method == "blocked" else None
    return _labels.prepare_class_labels(labels, num_classes, n=n, d=d, k=k, n_dims=n_dims, metric=metric, plan=plan)


SPEC = _engine.EstimatorSpec(
    zero_columns_exact=lambda **_: True,  # Euclidean and cosine distances do not see zero columns
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
    n_dims: int | None = None,
    metric: str = "euclidean",
    method: str = "auto",
    block_size: int | None = None,
) -> jax.Array:
    """Leave-one-out kNN accuracy x100 with the PARC release's vote rule.

    Args:
      features: [N, D] probe features.
      labels: [N] int target labels in [0, num_classes).
      num_classes: C, the number of target classes.
      k: number of neighbours (1 <= k < N).
      n_dims: if given, exact PCA to this many dimensions first (clamped to min(N, D)).
      metric: "euclidean", or "cosine" (1 - cos(x_i, x_j); all-zero rows at distance 1 from the others).
      method: "dense" (the N x N distance matrix), "blocked" (row blocks of `block_size` rows, memory
        O(block_size x N), spread over the local devices; the same result) or "auto" (dense up to
        N = 4096).
      block_size: rows per block of the blocked path; default about 4M distances per block.

    Returns:
      Scalar in [0, 100].
    """
    return _engine.run(
        SPEC, features, labels, num_classes, k=k, n_dims=n_dims, metric=metric, method=method, block_size=block_size
    )
