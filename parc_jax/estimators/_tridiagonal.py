"""The k largest eigenpairs of a symmetric matrix through its tridiagonal form (the CPU route of `_stats.top_eigh`).

LAPACK's dense `syevd` (XLA's CPU `eigh`) reduces g [n, n] to tridiagonal form T = Q^T g Q, then computes
all n eigenvectors of T and multiplies them by Q. When only k << n are wanted, the last two steps are the
larger part of its cost (at n = 500: ~3 ms of ~12 ms for the reduction). Here, as LAPACK's `syevx` does
(Demmel, "Applied Numerical Linear Algebra", 1997, sections 5.3.4-5.3.5):

1. T from `jax.lax.linalg.tridiagonal` (LAPACK sytrd; Q kept as n - 1 Householder reflectors), of the upper
   triangle: for 8 matrices of 500 x 500 on the 2-core VM (2026-12, side by side), 19 ms against 23 ms for
   the lower one,
2. the k largest eigenvalues lambda_j of T by bisection on Sturm counts (`eigh_tridiagonal(select="i")`),
3. their eigenvectors by inverse iteration, all k at once: z <- (T - lambda_j I)^-1 z from a random start,
   ITERATIONS times; each solve shrinks the components along the other eigenvectors i by
   |lambda_j - lambda_i| over the eigenvalue's own error (~ float32 eps x ||T|| after bisection). The k
   shifted matrices are factored once by tridiagonal LU with partial pivoting, pivots below eps ||T||
   raised to it (LAPACK gttrf and stein), in one scan over the n rows whose steps act on all k systems
   together (`_factor_shifted`, `_solve_factored`): for 8 matrices of 500 x 500 and k = 64, 3.7 ms against
   11.0 ms for two `tridiagonal_solve(perturb_singular=True)` calls (LAPACK, one system at a time),
4. Rayleigh-Ritz of T on the span of the k vectors (orthonormalised through Cholesky factors of their
   k x k Gram matrix, twice), which also resolves vectors of close eigenvalues that inverse iteration
   leaves mixed,
5. the Ritz vectors multiplied by Q (`apply_reflectors`), the reflectors applied in blocks of REFLECTOR_BLOCK
   through I - V T_b V^T, T_b^-1 = diag(1 / tau) + strictly_upper(V^T V) (the "UT transform": Joffrain, Low,
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
    """Q y for the Q of an upper `jax.lax.linalg.tridiagonal` (LAPACK sytrd): Q = H_{n-2} ... H_1 H_0,
    H_j = I - tau_j v_j v_j^T, v_j zero below row j, 1 at row j and packed[:j, j + 1] above.

    The blocks of REFLECTOR_BLOCK reflectors H_s ... H_{e-1}, written I - V T_b V^T (T_b upper triangular),
    are applied first to last as their transposes H_{e-1} ... H_s = I - V T_b^T V^T, each to the rows down to
    its last nonzero row (static slices, about half the flops of full-height blocks). Unrolled: for 8
    matrices of 500 x 500 and y [500, 64] on the 2-core VM (2026-12, side by side), 4.7 ms against 10.7 ms
    for one `fori_loop` step over full-height blocks, for ~0.5 s more compilation.
    """
    n = packed.shape[0]
    rows = jnp.arange(n)[:, None]
    columns = jnp.arange(n - 1)[None, :]
    v = jnp.where(rows < columns, packed[:, 1:], 0.0) + (rows == columns).astype(packed.dtype)
    identity = taus == 0  # H_j = I: its column of V is left out (0) and its diagonal entry of T_b^-1 is 1
    v = jnp.where(identity, 0.0, v)
    inverse_taus = 1.0 / jnp.where(identity, 1.0, taus)
    for start in range(0, n - 1, REFLECTOR_BLOCK):
        stop = min(start + REFLECTOR_BLOCK, n - 1)
        block = v[:stop, start:stop]
        t_inverse = jnp.triu(jnp.matmul(block.T, block, precision=HIGHEST), 1) + jnp.diag(inverse_taus[start:stop])
        products = jnp.matmul(block.T, y[:stop], precision=HIGHEST)
        w = jax.lax.linalg.triangular_solve(t_inverse, products, left_side=True, lower=False, transpose_a=True)
        y = y.at[:stop].add(-jnp.matmul(block, w, precision=HIGHEST))
    return y


def _raised(pivot: jax.Array, tiny: jax.Array) -> jax.Array:
    """The pivot, or +-tiny where it is smaller in magnitude (its sign kept, + for 0)."""
    return jnp.where(jnp.abs(pivot) < tiny, jnp.where(pivot < 0, -tiny, tiny), pivot)


def _factor_shifted(shifted: jax.Array, off_diagonal: jax.Array, tiny: jax.Array) -> tuple[jax.Array, ...]:
    """LU with partial pivoting (LAPACK gttrf) of the k tridiagonal matrices with diagonals shifted[:, j]
    ([n, k]) and the common off-diagonal [n - 1], pivots of magnitude below `tiny` raised to it.

    Row i is swapped with row i + 1 where |T[i + 1, i]| exceeds the current pivot; U then has a second
    superdiagonal. Returns (pivots [n, k], first [n - 1, k] and second [n - 1, k] superdiagonals of U
    (the second's last row 0), multipliers [n - 1, k], swapped [n - 1, k])."""
    sub = jnp.broadcast_to(off_diagonal[:, None], shifted[1:].shape)  # T[i + 1, i] = T[i, i + 1]
    next_super = jnp.concatenate([sub[1:], jnp.zeros_like(sub[:1])])  # T[i + 1, i + 2]; 0 past the end

    def step(carry, row):
        diagonal, upper = carry  # row i of the partly eliminated matrix: T'[i, i], T'[i, i + 1]
        below, next_diagonal, next_upper = row
        swap = jnp.abs(below) > jnp.abs(diagonal)
        pivot = _raised(jnp.where(swap, below, diagonal), tiny)
        factor = jnp.where(swap, diagonal, below) / pivot
        first = jnp.where(swap, next_diagonal, upper)
        second = jnp.where(swap, next_upper, 0.0)
        carried = (
            jnp.where(swap, upper - factor * next_diagonal, next_diagonal - factor * upper),
            jnp.where(swap, -factor * next_upper, next_upper),
        )
        return carried, (pivot, first, second, factor, swap)

    (last, _), (pivots, first, second, factors, swapped) = jax.lax.scan(
        step, (shifted[0], sub[0]), (sub, shifted[1:], next_super)
    )
    return jnp.concatenate([pivots, _raised(last, tiny)[None]]), first, second, factors, swapped


def _solve_factored(lu: tuple[jax.Array, ...], b: jax.Array) -> jax.Array:
    """x [n, k] with T_j x[:, j] = b[:, j] for the factors of `_factor_shifted` (LAPACK gttrs)."""
    pivots, first, second, factors, swapped = lu

    def forward(current, row):  # P and L^-1: current = b'[i], row = (b[i + 1], l_i, swapped_i)
        following, factor, swap = row
        return jnp.where(swap, current - factor * following, following - factor * current), jnp.where(
            swap, following, current
        )

    last, y = jax.lax.scan(forward, b[0], (b[1:], factors, swapped))
    x_last = last / pivots[-1]

    def backward(carry, row):  # U^-1: carry = (x[i + 1], x[i + 2])
        x1, x2 = carry
        y_i, pivot, u1, u2 = row
        x_i = (y_i - u1 * x1 - u2 * x2) / pivot
        return (x_i, x1), x_i

    _, x = jax.lax.scan(backward, (x_last, jnp.zeros_like(x_last)), (y, pivots[:-1], first, second), reverse=True)
    return jnp.concatenate([x, x_last[None]])


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
    packed, diagonal, off_diagonal, taus = jax.lax.linalg.tridiagonal(g, lower=False)
    values = jax.scipy.linalg.eigh_tridiagonal(
        diagonal, off_diagonal, eigvals_only=True, select="i", select_range=(n - k, n - 1)
    )
    scale = jnp.max(jnp.abs(diagonal)) + 2.0 * jnp.max(jnp.abs(off_diagonal))  # >= ||T||_2 (Gershgorin)
    tiny = jnp.finfo(g.dtype).eps * scale
    lu = _factor_shifted(diagonal[:, None] - values[None, :], off_diagonal, tiny)
    z = jax.random.normal(jax.random.key(0), (n, k), g.dtype)
    for _ in range(ITERATIONS):  # right-hand sides of norm eps ||T||: solutions of norm ~1 along the eigenvector
        z = _solve_factored(lu, z * (tiny / jnp.linalg.norm(z, axis=0)))
    basis = _orthonormalized(_orthonormalized(z))  # [n, k]
    t_basis = _times_tridiagonal(diagonal, off_diagonal, basis)
    theta, w = jnp.linalg.eigh(jnp.matmul(basis.T, t_basis, precision=HIGHEST), symmetrize_input=True)
    theta, w = theta[::-1], w[:, ::-1]
    ritz = jnp.matmul(basis, w, precision=HIGHEST)
    residuals = jnp.linalg.norm(jnp.matmul(t_basis, w, precision=HIGHEST) - ritz * theta, axis=0)
    small = theta <= resolved * theta[0]
    converged = jnp.all((residuals <= tolerance * theta[0]) | small)  # False for NaN (a failed Cholesky)
    return theta, apply_reflectors(packed, taus, ritz), converged
