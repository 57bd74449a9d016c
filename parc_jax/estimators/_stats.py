"""Statistics shared by the estimator kernels: Gram matrices, centring, standardisation, PCA, sorting,
ranks, correlations.

All functions are pure and jittable; matmuls use `precision=HIGHEST` so that TF32 (GPU) or bf16 passes
(TPU) do not change the numbers.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

HIGHEST = jax.lax.Precision.HIGHEST


def matmul(a: jax.Array, b: jax.Array) -> jax.Array:
    """`a @ b` at full float32 precision on every backend."""
    return jnp.matmul(a, b, precision=HIGHEST)


# On a CPU, matrices of at least CPU_MIN_BLOCK_DEPTH columns are multiplied with themselves in row blocks
# of about CPU_BLOCK_ROWS rows, at most MAX_ROW_BLOCKS of them (k blocks make k(k+1)/2 products, which
# the program must compile).
CPU_MIN_BLOCK_DEPTH = 1024
CPU_BLOCK_ROWS = 128
MAX_ROW_BLOCKS = 16


def row_blocks(x: jax.Array, *, few: int = 1) -> tuple[list[jax.Array], list[int]]:
    """x [N, d] cut into k near-equal row blocks for its products with itself (`gram`, PARC's pair
    values): (blocks, edges), edges = [0, ..., N] their boundaries.

    Only the block pairs on one side of the diagonal are multiplied: (k + 1) / 2k of the flops of the
    full product. On a CPU, for d >= CPU_MIN_BLOCK_DEPTH, blocks of about CPU_BLOCK_ROWS rows are also
    faster per flop: at d = 2048 on the 2-core VM, 8 matrices of N = 500 took 27-33 ms in 4-5 blocks
    against 37-43 ms in 2 and 58-67 ms as one product; 1 of N = 2000 took 69 ms in 16 blocks against
    178 ms as one. For shallow matrices the product is cheap and assembling the blocks is not (N = 2000,
    d = 64: 38 ms in blocks, 3 ms as one product), so they take `few` blocks, as accelerators do
    (large products keep the chip busy).
    """
    n, d = x.shape
    if jax.default_backend() == "cpu" and d >= CPU_MIN_BLOCK_DEPTH:
        k = min(-(-n // CPU_BLOCK_ROWS), MAX_ROW_BLOCKS)
    else:
        k = min(few, n)
    edges = [i * n // k for i in range(k + 1)]
    return [x[start:stop] for start, stop in zip(edges, edges[1:])], edges


def gram(x: jax.Array) -> jax.Array:
    """x x^T [N, N] at full float32 precision, symmetric up to rounding (exactly when cut in blocks).

    In row blocks (`row_blocks`) the blocks on and below the diagonal are computed (XLA has no
    symmetric rank-k update) and mirrored above it; otherwise one product.
    """
    n = x.shape[0]
    blocks, edges = row_blocks(x)
    if len(blocks) == 1:
        return matmul(x, x.T)
    lower = jnp.concatenate(
        [
            jnp.concatenate(
                [matmul(block, other.T) for other in blocks[: i + 1]]
                + [jnp.zeros((block.shape[0], n - edges[i + 1]), x.dtype)],
                axis=1,
            )
            for i, block in enumerate(blocks)
        ]
    )
    # Mirrored by adding the transposed strict lower triangle (exact: one term of each sum is 0).
    # `where(tri, lower, lower.T)` says the same, but crashed XLA:CPU (jax 0.10.2) from N ~ 900 on.
    return jnp.tril(lower) + jnp.tril(lower, -1).T


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
    values come from a Householder tridiagonalisation (LAPACK sytrd) and bisection on the tridiagonal
    matrix instead: for 8 Gram matrices of 500 x 500, 0.4 s against 4.6 s, within 2e-7 of the largest
    eigenvalue. Other backends call `jnp.linalg.eigvalsh`.
    """
    if jax.default_backend() != "cpu":
        return jnp.linalg.eigvalsh(a)
    _, diagonal, off_diagonal, _ = jax.lax.linalg.tridiagonal(a)
    return jax.scipy.linalg.eigh_tridiagonal(diagonal, off_diagonal, eigvals_only=True)


def exact_pca(x: jax.Array, n_dims: int) -> jax.Array:
    """Project onto the first `n_dims` principal axes of x (exact, not randomised).

    Each principal axis v_k is signed so that its largest-magnitude loading is positive, the rule of
    scikit-learn >= 1.5 (`svd_flip(u_based_decision=False)`). The sign matters to PARC: it correlates
    samples across the projected columns.

    Returns the scores X_c v_k = s_k u_k of the centred data, shape [N, n_dims].
    """
    centered = jnp.asarray(x, jnp.float32)
    centered = centered - centered.mean(axis=0)
    n, d = centered.shape
    if n > d:
        # Large probes: eigenvectors v of the D x D Gram matrix; only the n_dims kept directions are
        # projected (X v_k = s_k u_k), an [N, D] x [D, n_dims] matmul instead of [N, D] x [D, D].
        sigma, vectors = jnp.linalg.eigh(gram(centered.T), symmetrize_input=True)
        sigma, vectors = jnp.maximum(sigma[::-1][:n_dims], 0.0), vectors[:, ::-1][:, :n_dims]
        resolved = sigma > 1e-7 * jnp.max(sigma)
        scores = jnp.where(resolved, matmul(centered, vectors), 0.0)
        loadings = vectors  # columns v_k: same signs as s_k v_k
    else:
        u, sigma = gram_eigh(centered)
        scores = u[:, :n_dims] * jnp.sqrt(sigma[:n_dims])  # [N, n_dims]
        loadings = matmul(centered.T, u[:, :n_dims])  # [D, n_dims], columns s_k v_k
    largest = jnp.argmax(jnp.abs(loadings), axis=0)
    signs = jnp.sign(jnp.take_along_axis(loadings, largest[None, :], axis=0))[0]
    return scores * jnp.where(signs == 0, 1.0, signs)


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
