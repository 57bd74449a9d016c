"""The k largest eigenpairs of a symmetric matrix through its tridiagonal form (the CPU route of `_stats.top_eigh`).

LAPACK's dense `syevd` (XLA's CPU `eigh`) reduces g [n, n] to tridiagonal form T = Q^T g Q, then computes
all n eigenvectors of T and multiplies them by Q. When only k << n are wanted, the last two steps are the
larger part of its cost (at n = 500: ~3 ms of ~12 ms for the reduction). Here, as LAPACK's `syevx` does
(Demmel, "Applied Numerical Linear Algebra", 1997, sections 5.3.4-5.3.5):

1. T from `jax.lax.linalg.tridiagonal` (LAPACK sytrd; Q kept as n - 1 Householder reflectors),
2. the k largest eigenvalues lambda_j of T by bisection on Sturm counts (`eigh_tridiagonal(select="i")`),
3. their eigenvectors by inverse iteration, all k at once: z <- (T - lambda_j I)^-1 z from a random start,
   ITERATIONS times (tridiagonal LU with partial pivoting, near-zero pivots perturbed: LAPACK gtsv);
   each solve shrinks the components along the other eigenvectors i by |lambda_j - lambda_i| over the
   eigenvalue's own error (~ float32 eps x ||T|| after bisection),
4. Rayleigh-Ritz of T on the span of the k vectors (orthonormalised through Cholesky factors of their
   k x k Gram matrix, twice), which also resolves vectors of close eigenvalues that inverse iteration
   leaves mixed,
5. the Ritz vectors multiplied by Q, the reflectors applied in blocks of REFLECTOR_BLOCK as
   I - V T_b V^T, T_b^-1 = diag(1 / tau) + strictly_upper(V^T V) (the "UT transform": Joffrain, Low,
   Quintana-Orti, van de Geijn, Van Zee, "Accumulating Householder transformations, revisited", ACM TOMS
   2006).

The result carries a flag: every wanted Ritz pair (theta_i, y_i) of T with a residual
||T y_i - theta_i y_i|| <= tolerance x theta_1 (or an eigenvalue <= resolved x theta_1, float32 noise); the
caller falls back to a dense `eigh` where it is False.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

HIGHEST = jax.lax.Precision.HIGHEST
ITERATIONS = 2
REFLECTOR_BLOCK = 32


def apply_reflectors(packed: jax.Array, taus: jax.Array, y: jax.Array) -> jax.Array:
    """Q y for the Q of a lower `jax.lax.linalg.tridiagonal` (LAPACK sytrd): Q = H_0 H_1 ... H_{n-2},
    H_i = I - tau_i v_i v_i^T, v_i zero above row i + 1, 1 at row i + 1 and packed[i + 2:, i] below.

    The blocks of REFLECTOR_BLOCK reflectors are applied last to first by one `fori_loop` over
    full-height [n, REFLECTOR_BLOCK] slices (their rows above the block are 0; the columns past n - 1
    are zero reflectors), so that the program compiles one block step, not n / REFLECTOR_BLOCK of them.
    """
    n = packed.shape[0]
    rows = jnp.arange(n)[:, None]
    columns = jnp.arange(n - 1)[None, :]
    v = jnp.where(rows > columns + 1, packed[:, : n - 1], 0.0) + (rows == columns + 1).astype(packed.dtype)
    identity = taus == 0  # H_i = I: its column of V is left out (0) and its diagonal entry of T_b^-1 is 1
    v = jnp.where(identity, 0.0, v)
    inverse_taus = 1.0 / jnp.where(identity, 1.0, taus)
    blocks = -(-(n - 1) // REFLECTOR_BLOCK)
    padding = blocks * REFLECTOR_BLOCK - (n - 1)
    v = jnp.pad(v, ((0, 0), (0, padding)))
    inverse_taus = jnp.pad(inverse_taus, (0, padding), constant_values=1.0)

    def apply_block(i, y):
        start = (blocks - 1 - i) * REFLECTOR_BLOCK
        block = jax.lax.dynamic_slice_in_dim(v, start, REFLECTOR_BLOCK, axis=1)
        diagonal = jax.lax.dynamic_slice_in_dim(inverse_taus, start, REFLECTOR_BLOCK)
        t_inverse = jnp.triu(jnp.matmul(block.T, block, precision=HIGHEST), 1) + jnp.diag(diagonal)
        products = jnp.matmul(block.T, y, precision=HIGHEST)
        w = jax.lax.linalg.triangular_solve(t_inverse, products, left_side=True, lower=False)
        return y - jnp.matmul(block, w, precision=HIGHEST)

    return jax.lax.fori_loop(0, blocks, apply_block, y)


def _orthonormalized(z: jax.Array) -> jax.Array:
    """z R^-1 for z^T z = R^T R (Cholesky): orthonormal columns spanning z's. Twice (CholeskyQR2) they are
    orthonormal to rounding for cond(z) up to ~1 / sqrt(float32 eps); NaN where z is numerically rank
    deficient (vectors of a tight cluster that inverse iteration left parallel)."""
    factor = jnp.linalg.cholesky(jnp.matmul(z.T, z, precision=HIGHEST))
    return jax.lax.linalg.triangular_solve(factor, z, left_side=False, lower=True, transpose_a=True)


def _times_tridiagonal(diagonal: jax.Array, off_diagonal: jax.Array, x: jax.Array) -> jax.Array:
    """T x for the symmetric tridiagonal T of `diagonal` [n] and `off_diagonal` [n - 1], x [n, k]."""
    zero = jnp.zeros_like(x[:1])
    below = jnp.concatenate([zero, off_diagonal[:, None] * x[:-1]])
    above = jnp.concatenate([off_diagonal[:, None] * x[1:], zero])
    return diagonal[:, None] * x + below + above


def top_eigh(g: jax.Array, k: int, *, tolerance: float, resolved: float) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The k largest eigenpairs of the symmetric g [n, n] (module docstring), 1 <= k < n.

    Returns:
      (values [k] descending, vectors [n, k], converged): `converged` is False where a Ritz residual
      exceeds `tolerance` x the largest eigenvalue (eigenvalues <= `resolved` x the largest exempt).
    """
    n = g.shape[0]
    packed, diagonal, off_diagonal, taus = jax.lax.linalg.tridiagonal(g, lower=True)
    values = jax.scipy.linalg.eigh_tridiagonal(
        diagonal, off_diagonal, eigvals_only=True, select="i", select_range=(n - k, n - 1)
    )
    zero = jnp.zeros((1,), g.dtype)
    lower = jnp.broadcast_to(jnp.concatenate([zero, off_diagonal]), (k, n))
    upper = jnp.broadcast_to(jnp.concatenate([off_diagonal, zero]), (k, n))
    shifted = diagonal[None, :] - values[:, None]  # [k, n]: one system T - lambda_j I per eigenvalue
    z = jax.random.normal(jax.random.key(0), (k, n, 1), g.dtype)
    for _ in range(ITERATIONS):
        z = jax.lax.linalg.tridiagonal_solve(lower, shifted, upper, z, perturb_singular=True)
        z = z / jnp.linalg.norm(z, axis=1, keepdims=True)
    basis = _orthonormalized(_orthonormalized(z[:, :, 0].T))  # [n, k]
    t_basis = _times_tridiagonal(diagonal, off_diagonal, basis)
    theta, w = jnp.linalg.eigh(jnp.matmul(basis.T, t_basis, precision=HIGHEST), symmetrize_input=True)
    theta, w = theta[::-1], w[:, ::-1]
    ritz = jnp.matmul(basis, w, precision=HIGHEST)
    residuals = jnp.linalg.norm(jnp.matmul(t_basis, w, precision=HIGHEST) - ritz * theta, axis=0)
    small = theta <= resolved * theta[0]
    converged = jnp.all((residuals <= tolerance * theta[0]) | small)  # False for NaN (a failed Cholesky)
    return theta, apply_reflectors(packed, taus, ritz), converged
