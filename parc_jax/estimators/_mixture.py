"""K-means and a full-covariance Gaussian mixture, as scikit-learn's defaults fit them, in float32.

`kmeans_labels` follows `sklearn.cluster.KMeans(n_clusters, n_init=1)`: greedy k-means++ seeding
(2 + floor(log K) candidates per centre, the one that lowers the potential most is kept), then Lloyd
iterations (at most KMEANS_MAX_ITER) until the labels stop changing or the centres move by at most
KMEANS_TOL x the mean feature variance in total squared distance; a cluster left empty takes the
sample farthest from its centre. Randomness comes from a `jax.random` key, so the draws differ from
NumPy's for the same seed (the fit is another draw of the same procedure).

`mixture_posteriors` follows `sklearn.mixture.GaussianMixture(K)` started from those labels: full
covariances C_v = Cov_v + REG_COVAR I, EM until the mean log-likelihood changes by less than TOL (at
most MAX_ITER iterations), then the posteriors r_iv = p(v | x_i) of the fitted mixture.

Float32 form. With r_iv the posteriors, n_v = sum_i r_iv + 10 eps and mu_v the weighted means, let
A_v [m, w] hold the rows sqrt(r_iv / n_v) (x_i - mu_v) of the m samples with r_iv > 0 (the members),
so that C_v = A_v^T A_v + lambda I. Forming A_v^T A_v in float32 and factorising it fails: with ~3
members in ~100 dimensions its null space is lambda = 1e-6 while its rounding errors are ~1e-4 (at
the goldens' feature scale). Here nothing is squared: a Householder QR A_v^T = Q_v R_v (Q_v [w, p],
p = min(m, w)) and a second one of
[R_v^T; sqrt(lambda) I_p] give an upper-triangular T_v with T_v^T T_v = R_v R_v^T + lambda I_p, and

    d^T C_v^-1 d = |T_v^-T Q_v^T d|^2 + |d - Q_v Q_v^T d|^2 / lambda,
    log det C_v = 2 sum log |diag T_v| + (k - p) log lambda,

exact for any d, since C_v = Q_v (R_v R_v^T) Q_v^T + lambda I; both QRs are backward stable, so T_v is
nonsingular whatever the rank of A_v, and every d = x_i - mu_v is centred before it is projected.
k is the number of real dimensions: columns of x beyond k are zero (padding), where C_v = lambda I,
which leaves the posteriors unchanged; counting k rather than w in the constants also keeps the
log-likelihood that of the unpadded data.

The posteriors of such a mixture are nearly hard (K = 5C components on a few hundred samples: most
r_iv underflow to exactly 0), so each component usually has few members: the M-step gathers the
`members` largest r_iv of each component and is exact while no component has more nonzero
posteriors than that; the fit reports whether that held (`members >= N` always holds).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from parc_jax.estimators import _engine, _stats

REG_COVAR = 1e-6
TOL = 1e-3
MAX_ITER = 100
KMEANS_MAX_ITER = 300
KMEANS_TOL = 1e-4
_EPS = float(np.finfo(np.float32).eps)


def _squared_distances(x: jax.Array, x_sq: jax.Array, centres: jax.Array) -> jax.Array:
    """|x_i - c_j|^2 [N, K] as |x|^2 + |c|^2 - 2 x.c (scikit-learn's form), clipped at 0."""
    cross = _stats.matmul(x, centres.T)
    return jnp.maximum(x_sq[:, None] + jnp.sum(centres * centres, axis=1)[None, :] - 2.0 * cross, 0.0)


def kmeans_plusplus(x: jax.Array, num_clusters: int, key: jax.Array) -> jax.Array:
    """Greedy k-means++ seeds [K, w] (scikit-learn's `_kmeans_plusplus`): each new centre is the best of
    2 + floor(log K) samples drawn with probability proportional to the squared distance to the closest
    centre so far."""
    n, w = x.shape
    trials = 2 + int(math.log(num_clusters))
    x_sq = jnp.sum(x * x, axis=1)
    key, first_key = jax.random.split(key)
    first = jax.random.randint(first_key, (), 0, n)
    closest = _squared_distances(x, x_sq, x[first][None])[:, 0]
    centres = jnp.zeros((num_clusters, w), x.dtype).at[0].set(x[first])

    def add_centre(c, state):
        centres, closest, key = state
        key, draw_key = jax.random.split(key)
        targets = jax.random.uniform(draw_key, (trials,)) * jnp.sum(closest)
        candidates = jnp.minimum(jnp.searchsorted(jnp.cumsum(closest), targets), n - 1)
        distances = jnp.minimum(closest[None, :], _squared_distances(x, x_sq, x[candidates]).T)  # [trials, N]
        best = jnp.argmin(jnp.sum(distances, axis=1))
        return centres.at[c].set(x[candidates[best]]), distances[best], key

    return jax.lax.fori_loop(1, num_clusters, add_centre, (centres, closest, key))[0]


def _lloyd_step(x, x_sq, centres):
    """Labels of the nearest centres, and the new centres (cluster means; an empty cluster takes the
    sample farthest from its centre, as scikit-learn relocates them)."""
    num_clusters = centres.shape[0]
    distances = _squared_distances(x, x_sq, centres)
    labels = jnp.argmin(distances, axis=1)
    empty = jnp.bincount(labels, length=num_clusters) == 0
    own = jnp.take_along_axis(distances, labels[:, None], axis=1)[:, 0]
    position = jnp.argsort(jnp.argsort(-own))  # 0 for the farthest sample
    empty_ids = jnp.nonzero(empty, size=num_clusters, fill_value=0)[0]
    moved = position < jnp.sum(empty)
    relabelled = jnp.where(moved, empty_ids[jnp.minimum(position, num_clusters - 1)], labels)
    sums = jax.ops.segment_sum(x, relabelled, num_segments=num_clusters)
    counts = jnp.bincount(relabelled, length=num_clusters).astype(x.dtype)
    return labels, jnp.where(counts[:, None] > 0, sums / jnp.maximum(counts, 1.0)[:, None], sums)


def kmeans_labels(x: jax.Array, num_clusters: int, key: jax.Array, dims: jax.Array) -> jax.Array:
    """[N] k-means cluster labels of x [N, w] (k-means++ seeds, then Lloyd), `dims` real columns."""
    x_sq = jnp.sum(x * x, axis=1)
    centred = x - x.mean(axis=0)
    tol = KMEANS_TOL * jnp.sum(jnp.mean(centred * centred, axis=0)) / dims

    def keep_going(state):
        i, _, _, changed, shift = state
        return (i < KMEANS_MAX_ITER) & changed & (shift > tol)

    def step(state):
        i, centres, labels_before, _, _ = state
        labels, new_centres = _lloyd_step(x, x_sq, centres)
        shift = jnp.sum((new_centres - centres) ** 2)
        return i + 1, new_centres, labels, jnp.any(labels != labels_before), shift

    start = (0, kmeans_plusplus(x, num_clusters, key), jnp.full(x.shape[0], -1), True, jnp.inf)
    centres = jax.lax.while_loop(keep_going, step, start)[1]
    return jnp.argmin(_squared_distances(x, x_sq, centres), axis=1)


def _maximization(x, resp, members, dims):
    """Mixture parameters from the posteriors resp [N, K]: (means [K, w], Q [K, w, p], T^-1 [K, p, p],
    log det C [K], log weights [K]), and whether no component has more than `members` nonzero posteriors."""
    n, _ = x.shape
    num_components = resp.shape[1]
    totals = jnp.sum(resp, axis=0) + 10 * _EPS
    if members < n:
        weights, rows = jax.lax.top_k(resp.T, members)  # [K, m]
        fits = jnp.all(jnp.sum(resp > 0, axis=0) <= members)
    else:
        weights, rows = resp.T, jnp.broadcast_to(jnp.arange(n), (num_components, n))
        fits = jnp.bool_(True)
    gathered = x[rows]  # [K, m, w]
    means = jnp.einsum("km,kmw->kw", weights, gathered, precision=_stats.HIGHEST) / totals[:, None]
    a = jnp.sqrt(weights / totals[:, None])[..., None] * (gathered - means[:, None, :])
    q = jnp.linalg.qr(jnp.swapaxes(a, 1, 2))[0]  # a^T = q r: q [K, w, p]
    # r = q^T a^T [K, p, m] from q, not from the QR's own r: the second QR then waits for the first's q.
    # jaxlib's batched LAPACK kernels block an XLA:CPU pool thread each while they wait for their batch
    # tasks in the same pool; two at once on a 2-thread pool never finish.
    r = jnp.einsum("kwp,kmw->kpm", q, a, precision=_stats.HIGHEST)
    p = q.shape[2]
    eye = jnp.broadcast_to(jnp.eye(p, dtype=x.dtype), (num_components, p, p))
    t = jnp.linalg.qr(jnp.concatenate([jnp.swapaxes(r, 1, 2), math.sqrt(REG_COVAR) * eye], axis=1), mode="r")
    t_inv = jax.lax.linalg.triangular_solve(t, eye, left_side=True, lower=False)  # [K, p, p]
    log_det = 2 * jnp.sum(jnp.log(jnp.abs(jnp.diagonal(t, axis1=1, axis2=2))), axis=1)
    log_det = log_det + (dims - p) * math.log(REG_COVAR)
    return (means, q, t_inv, log_det, jnp.log(totals / jnp.sum(totals))), fits


def _log_density(x, mean, q, t_inv, log_det, dims):
    """log N(x_i | mean, C) [N] for one component."""
    w, p = q.shape
    d = x - mean
    c = _stats.matmul(d, q)
    y = _stats.matmul(c, t_inv)
    mahalanobis = jnp.sum(y * y, axis=1)
    if p < w:
        e = d - _stats.matmul(c, q.T)
        mahalanobis = mahalanobis + jnp.sum(e * e, axis=1) / REG_COVAR
    return -0.5 * (dims * math.log(2 * math.pi) + mahalanobis + log_det)


def _expectation(x, params, dims, block):
    """(mean log-likelihood, log posteriors [N, K]) of x under the mixture; `block` components at a time."""
    means, q, t_inv, log_det, log_weights = params
    log_prob = (
        jax.lax.map(lambda p: _log_density(x, *p, dims), (means, q, t_inv, log_det), batch_size=block)
        + log_weights[:, None]
    )  # [K, N]
    log_norm = jax.nn.logsumexp(log_prob, axis=0)  # [N]
    return jnp.mean(log_norm), (log_prob - log_norm).T


def mixture_posteriors(
    x: jax.Array, labels: jax.Array, num_components: int, dims: jax.Array, *, members: int, block: int
):
    """Posteriors [N, K] of a full-covariance Gaussian mixture fit by EM from hard initial labels [N],
    and whether the M-steps were exact (no component with more than `members` nonzero posteriors).

    As scikit-learn, every iteration is an E-step and an M-step, and the posteriors come from one more
    E-step with the last parameters. That one is skipped when the last M-step had the same posteriors
    as the one before (bit for bit, as when hard assignments stop changing): it would repeat the last.
    """
    resp = jax.nn.one_hot(labels, num_components, dtype=x.dtype)
    params, fits = _maximization(x, resp, members, dims)

    def keep_going(state):
        i, _, change, _, fits, _, _ = state
        return (i < MAX_ITER) & (jnp.abs(change) >= TOL) & fits

    def step(state):
        i, lower_bound, _, params, _, _, resp = state
        new_bound, log_resp = _expectation(x, params, dims, block)
        new_resp = jnp.exp(log_resp)
        params, fits = _maximization(x, new_resp, members, dims)
        return i + 1, new_bound, new_bound - lower_bound, params, fits, resp, new_resp

    start = (0, -jnp.inf, jnp.inf, params, fits, resp, resp)
    _, _, _, params, fits, before, last = jax.lax.while_loop(keep_going, step, start)
    final = lambda x, params, dims: jnp.exp(_expectation(x, params, dims, block)[1])  # noqa: E731
    return _engine.computed_unless(jnp.all(last == before), last, final, x, params, dims), fits
