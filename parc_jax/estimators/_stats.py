"""Statistics shared by the estimator kernels: Gram matrices, centring, standardisation, PCA, sorting,
ranks, correlations.

All functions are pure and jittable; matmuls use `precision=HIGHEST` so that TF32 (GPU) or bf16 passes
(TPU) do not change the numbers.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from parc_jax.estimators import _engine, _platform, _tridiagonal

HIGHEST = jax.lax.Precision.HIGHEST


def matmul(a: jax.Array, b: jax.Array) -> jax.Array:
    """`a @ b` at full float32 precision on every backend."""
    return jnp.matmul(a, b, precision=HIGHEST)


def row_blocks(x: jax.Array, k: int) -> tuple[list[jax.Array], list[int]]:
    """x [N, d] cut into min(k, N) near-equal row blocks: (blocks, edges), edges = [0, ..., N] their
    boundaries. For products of x with itself of which one side of the diagonal is needed (PARC's pair
    values): the block pairs on that side take (k + 1) / 2k of the flops of the full product."""
    n = x.shape[0]
    k = min(k, n)
    edges = [i * n // k for i in range(k + 1)]
    return [x[start:stop] for start, stop in zip(edges, edges[1:])], edges


def column_mean(x: jax.Array) -> jax.Array:
    """The mean of the rows of x [N, D], as a product (1 / N) 1^T x.

    Ahead of a product of the centred x with itself, XLA:CPU fuses a `mean` reduction into the product's
    fusion, which then ran slower: for 8 centred Gram matrices of 500 x 2048 on the 2-core VM (2026-12,
    side by side), 35 ms against 25 ms with the mean as a product (24 ms for the product of x itself).
    """
    return matmul(jnp.full((x.shape[0],), 1.0 / x.shape[0], x.dtype), x)


def gram(x: jax.Array) -> jax.Array:
    """x x^T [N, N] at full float32 precision, exactly symmetric (the product averaged with its transpose).

    One product: on the 2-core CPU VM (2026-12-03, quiet) 8 matrices of 500 x 2048 took 50 ms as one
    product each against 67 ms in the ~128-row blocks of one side of the diagonal (XLA has no symmetric
    rank-k update), which also compiled 0.2-1 s longer.
    """
    product = matmul(x, x.T)
    return (product + product.T) / 2


def standardize_columns(x: jax.Array) -> jax.Array:
    """Z-score every column (population std, ddof=0), as `sklearn.preprocessing.StandardScaler`.

    Constant columns (detected exactly, by max == min, not by a float32 std that may not be 0) become 0.
    """
    x = jnp.asarray(x, jnp.float32)
    centered = x - x.mean(axis=0)
    std = jnp.sqrt(jnp.mean(centered**2, axis=0))
    constant = x.max(axis=0) == x.min(axis=0)
    return jnp.where(constant, 0.0, centered / jnp.where(constant, 1.0, std))


def thin_svd(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Left singular vectors and singular values of x [N, D]: (u [N, k], s [k]), k = min(N, D).

    Householder QR of the long side first, then a LAPACK SVD of the small k x k factor: as accurate as
    an SVD of x (backward stable, small singular values resolved), and several times faster than
    `jnp.linalg.svd(x)` on the CPU for PARC-sized probes (e.g. 500 x 2048). For N <= D,
    x^T = Q R gives x = R^T Q^T, whose left singular vectors are those of R^T; for N > D, x = Q R
    gives u = Q u_R.
    """
    n, d = x.shape
    if n <= d:
        r = jnp.linalg.qr(x.T, mode="r")
        u, s, _ = jnp.linalg.svd(r.T)
        return u, s
    q, r = jnp.linalg.qr(x)
    u_r, s, _ = jnp.linalg.svd(r)
    return matmul(q, u_r), s


def gram_eigh(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Left singular vectors and squared singular values of x [N, D] from the smaller Gram matrix.

    An eigendecomposition of the k x k Gram matrix (k = min(N, D); X X^T when N <= D, else X^T X)
    costs O(N D k + k^3) and is the fastest route on every backend. Squaring the matrix limits the
    float32 resolution of the smallest directions to about 1e-7 of the largest eigenvalue, which is
    harmless where they are weighted by their eigenvalue (PCA, LogME, shrinkage H-score) but not for a
    numerical rank (plain H-score falls back to `thin_svd`). For N > D, u = X v / s on directions with
    s^2 > 1e-7 s_max^2, 0 on the others. Eigenvalues come in descending order, clipped at 0.

    Returns:
      (u [N, k], sigma [k] = s^2).
    """
    n, d = x.shape
    sigma, vectors = jnp.linalg.eigh(gram(x if n <= d else x.T), symmetrize_input=True)
    sigma, vectors = jnp.maximum(sigma[::-1], 0.0), vectors[:, ::-1]
    if n <= d:
        return vectors, sigma
    resolved = sigma > 1e-7 * sigma[0]
    scale = jnp.where(resolved, jax.lax.rsqrt(jnp.where(resolved, sigma, 1.0)), 0.0)
    return matmul(x, vectors) * scale, sigma


def eigvalsh(a: jax.Array) -> jax.Array:
    """Eigenvalues of a symmetric matrix in ascending order.

    On a CPU XLA's `eigh` always computes the eigenvectors too (LAPACK syevd in mode "V"), so the
    values come from a Householder tridiagonalisation (LAPACK sytrd, of the upper triangle: 12-13 ms
    against 14-16 ms from the lower) and bisection on the tridiagonal matrix (10-12 ms) instead: for 8
    Gram matrices of 500 x 500 on the 2-core VM (2026-12-03), ~25 ms against 71-110 ms for `eigh`,
    within 2e-7 of the largest eigenvalue. Other backends call `jnp.linalg.eigvalsh`.
    """
    if not _platform.is_cpu():
        return jnp.linalg.eigvalsh(a)
    _, diagonal, off_diagonal, _ = jax.lax.linalg.tridiagonal(a, lower=False)
    return jax.scipy.linalg.eigh_tridiagonal(diagonal, off_diagonal, eigvals_only=True)


# `top_eigh`: matrices up to TOP_EIGH_DENSE_MAX rows are decomposed whole. Larger ones are filtered in a
# block of k + max(k / 2, 16) vectors, rounded up to 8 (k wanted), for at most TOP_EIGH_MAX_ROUNDS rounds of a
# Chebyshev filter of degree <= TOP_EIGH_MAX_DEGREE, until every wanted Ritz pair has a residual
# <= TOP_EIGH_TOLERANCE x the largest eigenvalue; a filter never amplifies the largest wanted direction more
# than TOP_EIGH_MAX_GROWTH times the smallest; eigenvalues <= TOP_EIGH_RESOLVED x the largest are float32 noise.
TOP_EIGH_DENSE_MAX = 160
TOP_EIGH_MAX_ROUNDS = 8
TOP_EIGH_MAX_DEGREE = 12
TOP_EIGH_TOLERANCE = 4e-6
TOP_EIGH_MAX_GROWTH = 1e4
TOP_EIGH_RESOLVED = 1e-6
# On a CPU, more than TOP_EIGH_CPU_FILTER_MAX_K wanted pairs come from the tridiagonal form (`_tridiagonal`).
TOP_EIGH_CPU_FILTER_MAX_K = 32


def _descending_eigh(a: jax.Array) -> tuple[jax.Array, jax.Array]:
    values, vectors = jnp.linalg.eigh(a, symmetrize_input=True)
    return values[::-1], vectors[:, ::-1]


def _rayleigh_ritz(g: jax.Array, q: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Ritz values (descending), Ritz vectors and g @ Ritz vectors of g on the span of orthonormal q."""
    gq = matmul(g, q)
    theta, w = _descending_eigh(matmul(q.T, gq))
    return theta, matmul(q, w), matmul(gq, w)


def _chebyshev_log_growth(degree: jax.Array, t: jax.Array) -> jax.Array:
    """log T_degree(t) for t >= 1: log cosh(degree acosh t), without overflow."""
    a = degree * jnp.arccosh(jnp.maximum(t, 1.0))
    return a + jnp.log1p(jnp.exp(-2.0 * a)) - jnp.log(2.0)


def _chebyshev_filter(g: jax.Array, x: jax.Array, degree: jax.Array, bound: jax.Array, top: jax.Array) -> jax.Array:
    """p(g) x with p the Chebyshev polynomial of `degree` that stays in [-1, 1] on [0, bound] and grows
    fastest above it, scaled to p(top) = 1 (the three-term recurrence of Zhou and Saad 2007, which keeps
    every intermediate bounded)."""
    half = bound / 2.0
    t_top = top / half - 1.0
    shifted = lambda v: (matmul(g, v) - half * v) / half  # noqa: E731  (g - c) / e on [0, bound] -> [-1, 1]
    ratio = 1.0 / t_top
    y = shifted(x) * ratio

    def step(_, state):
        previous, current, ratio = state
        next_ratio = 1.0 / (2.0 * t_top - ratio)
        return current, 2.0 * next_ratio * shifted(current) - ratio * next_ratio * previous, next_ratio

    return jax.lax.fori_loop(1, degree, step, (x, y, ratio))[1]


def _filter_degree(theta: jax.Array, k: int) -> jax.Array:
    """The highest degree <= TOP_EIGH_MAX_DEGREE whose filter (`_chebyshev_filter` on [0, smallest Ritz
    value]) grows the largest Ritz value at most TOP_EIGH_MAX_GROWTH times more than the smallest resolved
    wanted one: every wanted direction keeps ~3 of float32's 7 digits in its column, however unconverged."""
    bound = jnp.maximum(theta[-1], 1e-7 * theta[0])
    wanted = theta[:k]
    smallest = jnp.min(jnp.where(wanted > TOP_EIGH_RESOLVED * theta[0], wanted, theta[0]))
    degrees = jnp.arange(1, TOP_EIGH_MAX_DEGREE + 1, dtype=jnp.float32)
    growth = _chebyshev_log_growth(degrees, 2.0 * theta[0] / bound - 1.0) - _chebyshev_log_growth(
        degrees, 2.0 * smallest / bound - 1.0
    )
    return jnp.maximum(jnp.sum(growth <= jnp.log(TOP_EIGH_MAX_GROWTH)), 1).astype(jnp.int32)


def _dense_top_eigh(g: jax.Array, k: int) -> tuple[jax.Array, jax.Array]:
    values, vectors = _descending_eigh(g)
    return values[:k], vectors[:, :k]


def top_eigh(g: jax.Array, k: int) -> tuple[jax.Array, jax.Array]:
    """The k largest eigenvalues (descending) and their eigenvectors of a symmetric positive semi-definite
    g [n, n], as accurate as a dense float32 `eigh` at a fraction of its cost when k << n.

    A dense eigendecomposition reduces g to tridiagonal form first (O(n^3), memory-bound: ~10 ms at
    n = 500 on a CPU core, whatever k). Here a block Q of p = k + max(k/2, 16) vectors, started from
    g Omega (Omega Gaussian, a fixed key), is improved by Chebyshev-filtered subspace iteration with
    Rayleigh-Ritz (Zhou and Saad, "Self-consistent-field calculations using Chebyshev-filtered subspace
    iteration", J. Comput. Phys. 2007): each round applies the Chebyshev polynomial of g that is bounded by
    1 on [0, theta_p] (theta_p the smallest Ritz value, at most lambda_p) and grows fastest above it, so the
    components of the unwanted eigenvectors shrink by about 1 / T_m(2 lambda_k / theta_p - 1) relative to
    the k-th; then Q is re-orthonormalised (Householder QR) and rotated onto the Ritz vectors of g on its
    span. Rounds stop when every wanted Ritz pair (theta_i, v_i) has a residual
    ||g v_i - theta_i v_i|| <= TOP_EIGH_TOLERANCE theta_1: each is then an exact eigenpair of a matrix
    within that distance of g, the backward error of a dense float32 eigensolver (eigenvector errors
    ~ residual / eigengap, as for the dense one). Eigenvalues below TOP_EIGH_RESOLVED theta_1 are float32
    noise and need not converge. A matrix that has not converged after TOP_EIGH_MAX_ROUNDS rounds (flat
    spectra, where lambda_{p+1} ~ lambda_k) takes the dense `eigh` instead; in a bank only such models pay
    for it (`_engine.computed_unless`).

    On a CPU, for k > TOP_EIGH_CPU_FILTER_MAX_K, the pairs come from g's tridiagonal form instead
    (`_tridiagonal.top_eigh`: bisection and inverse iteration, a cost that does not depend on the spectrum),
    checked by the same residual test, with the same dense fallback. The filter's block of 1.5 k vectors
    makes its rounds costly for large k, and a flat spectrum below the k-th eigenvalue keeps it from
    converging: for 8 Gram matrices of 500 x 500 (`benchmarks/estimators.py`'s bank, 36 class directions
    above a flat bulk) on the 2-core VM (2026-12, side by side), k = 64 took ~35 ms from the tridiagonal
    form, ~75 ms by dense `eigh` and ~115 ms by the filter (all rounds, then the dense fallback); k = 32
    ~30 ms from the tridiagonal form and ~33 ms by the filter.

    Returns:
      (values [k], vectors [n, k]); eigenvalues of float32 noise may come out slightly negative.
    """
    n = g.shape[0]
    if n <= TOP_EIGH_DENSE_MAX or k >= n // 2:
        return _dense_top_eigh(g, k)
    if _platform.is_cpu() and k > TOP_EIGH_CPU_FILTER_MAX_K:
        values, vectors, converged = _tridiagonal.top_eigh(
            g, k, tolerance=TOP_EIGH_TOLERANCE, resolved=TOP_EIGH_RESOLVED
        )
        return _engine.computed_unless(converged, (values, vectors), functools.partial(_dense_top_eigh, k=k), g)
    p = min(-(-(k + max(k // 2, 16)) // 8) * 8, n)
    omega = jax.random.normal(jax.random.key(0), (n, p), g.dtype)
    theta, q, gq = _rayleigh_ritz(g, jnp.linalg.qr(matmul(g, matmul(g, omega)))[0])

    def converged(theta, q, gq):
        residuals = jnp.linalg.norm(gq[:, :k] - q[:, :k] * theta[:k], axis=0)
        small = theta[:k] <= TOP_EIGH_RESOLVED * theta[0]
        return jnp.all((residuals <= TOP_EIGH_TOLERANCE * theta[0]) | small)

    def keep_going(state):
        rounds, theta, q, gq = state
        return (rounds < TOP_EIGH_MAX_ROUNDS) & ((rounds == 0) | ~converged(theta, q, gq))

    def one_round(state):
        rounds, theta, q, _ = state
        bound = jnp.maximum(theta[-1], 1e-7 * theta[0])
        filtered = _chebyshev_filter(g, q, _filter_degree(theta, k), bound, theta[0])
        return rounds + 1, *_rayleigh_ritz(g, jnp.linalg.qr(filtered)[0])

    _, theta, q, gq = jax.lax.while_loop(keep_going, one_round, (0, theta, q, gq))
    values, vectors = theta[:k], q[:, :k]
    return _engine.computed_unless(
        converged(theta, q, gq), (values, vectors), functools.partial(_dense_top_eigh, k=k), g
    )


def exact_pca(x: jax.Array, n_dims: int, *, signed: bool = True) -> jax.Array:
    """Project onto the first `n_dims` principal axes of x (exact, not randomised).

    With X_c = X - mean the centred data and X_c = U S V^T its thin SVD, the principal scores are
    X_c v_k = s_k u_k. They come from the k = n_dims leading eigenpairs (`top_eigh`) of the smaller Gram
    matrix: X_c X_c^T (eigenvectors u_k, N <= D) or X_c^T X_c (eigenvectors v_k, N > D), both with
    eigenvalues s_k^2. Each principal axis v_k is signed so that its largest-magnitude loading is
    positive, the rule of scikit-learn >= 1.5 (`svd_flip(u_based_decision=False)`); on the N x N route
    its loadings are X_c^T u_k = s_k v_k. The sign matters to PARC: it correlates samples across the
    projected columns. Directions with s_k^2 <= TOP_EIGH_RESOLVED s_1^2 (beyond the numerical rank of a
    float32 Gram matrix, e.g. the last of n_dims = N, as centring removes one) score 0, where a float64
    SVD returns rounding noise. With `signed=False` the signs are left as the eigensolver gives them (for
    estimators that depend on the scores only through squares or through their span: GBC, NCTI), which
    saves the [n_dims, D] loadings product.

    Returns the scores [N, n_dims].
    """
    x = jnp.asarray(x, jnp.float32)
    n, d = x.shape
    centered = x - column_mean(x)
    if n <= d:
        sigma, u = top_eigh(gram(centered), n_dims)
        scores = u * jnp.sqrt(jnp.maximum(sigma, 0.0))
    else:
        sigma, v = top_eigh(gram(centered.T), n_dims)
        scores = matmul(centered, v)
    resolved = sigma > TOP_EIGH_RESOLVED * sigma[0]
    if not signed:
        return jnp.where(resolved, scores, 0.0)
    loadings = matmul(u.T, centered) if n <= d else v.T  # [n_dims, D], rows s_k v_k or v_k
    largest = jnp.argmax(jnp.abs(loadings), axis=1)
    signs = jnp.sign(jnp.take_along_axis(loadings, largest[:, None], axis=1))[:, 0]
    return scores * jnp.where(resolved, jnp.where(signs == 0, 1.0, signs), 0.0)


def reduce_dims(x: jax.Array, n_dims: int | None) -> jax.Array:
    """The `n_dims=` option of the feature-based estimators: x itself for None, else its exact PCA
    scores (`exact_pca`, the sign rule included) [N, n_dims]."""
    return x if n_dims is None else exact_pca(x, n_dims)


def unit_rows(x: jax.Array) -> jax.Array:
    """Rows centred and scaled to unit norm, so that `unit_rows(x) @ unit_rows(x).T` = `np.corrcoef(x)`."""
    centered = x - x.mean(axis=1, keepdims=True)
    return centered / jnp.linalg.norm(centered, axis=1, keepdims=True)


def normalize_rows(x: jax.Array) -> jax.Array:
    """Rows scaled to unit L2 norm; all-zero rows stay 0 (as `sklearn.preprocessing.normalize`), so
    `normalize_rows(x) @ normalize_rows(x).T` is scikit-learn's `cosine_similarity(x)`."""
    norms = jnp.linalg.norm(x, axis=1, keepdims=True)
    return jnp.where(norms > 0, x / jnp.where(norms > 0, norms, 1.0), 0.0)


def sort_floats(values: jax.Array) -> jax.Array:
    """Float32 values sorted ascending, through int32 keys that order as the floats do.

    The int32 bit pattern of a float ascends with its value for non-negative floats and descends for
    negative ones, so flipping the 31 low bits of the negative ones gives keys in float order (and the
    same flip maps them back, bit for bit). XLA's CPU sort is about 5x faster on such keys than with
    its float comparator: 8 sorts of 3,584 values took 0.8 ms against 4.3 ms. -0.0 sorts before 0.0,
    +inf last. NaN must not be sorted: it lands at either end, by its sign bit.
    """
    if values.dtype != jnp.float32:
        raise TypeError(f"sort_floats takes float32 values, got {values.dtype}")
    flip = jnp.int32(0x7FFFFFFF)
    bits = jax.lax.bitcast_convert_type(values, jnp.int32)
    ordered = jnp.sort(jnp.where(bits < 0, bits ^ flip, bits))
    return jax.lax.bitcast_convert_type(jnp.where(ordered < 0, ordered ^ flip, ordered), jnp.float32)


def average_ranks(values: jax.Array) -> jax.Array:
    """1-based ranks of a vector with ties given their average rank (as `scipy.stats.rankdata`).

    Sort + two searchsorted passes: for value v the average rank is (#less + #less_or_equal + 1) / 2.
    (argsort(argsort(v)) would give distinct ranks to tied values.)
    """
    ordered = sort_floats(values)
    less = jnp.searchsorted(ordered, values, side="left")
    less_or_equal = jnp.searchsorted(ordered, values, side="right")
    return (less + less_or_equal + 1).astype(jnp.float32) / 2


def first_argmax(x: jax.Array) -> jax.Array:
    """`jnp.argmax(x, axis=-1)` (the first maximum) as two plain reductions, max then min of the
    matching indices: several times faster on XLA:CPU than its variadic (value, index) reduction."""
    best = jnp.max(x, axis=-1, keepdims=True)
    index = jax.lax.broadcasted_iota(jnp.int32, x.shape, x.ndim - 1)
    return jnp.min(jnp.where(x == best, index, x.shape[-1]), axis=-1)


def pearson(a: jax.Array, b: jax.Array) -> jax.Array:
    """Pearson correlation of two vectors."""
    a = a - a.mean()
    b = b - b.mean()
    return jnp.sum(a * b) / jnp.sqrt(jnp.sum(a * a) * jnp.sum(b * b))


def spearman(a: jax.Array, b: jax.Array) -> jax.Array:
    """Spearman correlation with average ranks for ties (as `scipy.stats.spearmanr`)."""
    return pearson(average_ranks(a), average_ranks(b))
