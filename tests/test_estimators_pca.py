"""Exact PCA (`_stats.exact_pca`, `_stats.top_eigh`) against a float64 NumPy SVD, and the choice of CPU or
accelerator routes from the devices of the inputs (`_platform`)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parc_jax import estimators
from parc_jax.estimators import _engine, _leep, _platform, _stats, _tridiagonal, reference


def _features(n, d, *, rank=None, decay=1.0, seed=0):
    """Gaussian features with singular values ~ k^-decay (k = 1..rank), plus an offset."""
    rng = np.random.default_rng(seed)
    rank = min(n, d) if rank is None else rank
    left = np.linalg.qr(rng.normal(size=(n, rank)))[0]
    right = np.linalg.qr(rng.normal(size=(d, rank)))[0]
    scale = np.arange(1, rank + 1, dtype=np.float64) ** -decay
    return ((left * scale) @ right.T * 100 + 3.0).astype(np.float32)


def _assert_matches_float64(ours, x, n_dims, columns=None):
    expected = reference._pca(x, n_dims)
    columns = n_dims if columns is None else columns
    ours, expected = np.asarray(ours, np.float64)[:, :columns], expected[:, :columns]
    # signs: the largest-magnitude loading positive, so each column agrees with the float64 one, not its negative
    assert (np.sum(ours * expected, axis=0) > 0).all()
    np.testing.assert_allclose(ours, expected, atol=2e-3 * np.abs(expected).max())


@pytest.mark.parametrize(
    "n,d",
    [(300, 700), (700, 260), (60, 90), (90, 60)],
    ids=["N<D iterative", "N>D iterative", "N<D dense", "N>D dense"],
)
def test_exact_pca_matches_float64_svd(n, d):
    x = _features(n, d, decay=0.5)
    _assert_matches_float64(jax.jit(_stats.exact_pca, static_argnums=1)(x, 24), x, 24)


def test_exact_pca_rank_deficient():
    """Beyond the numerical rank the scores are 0 (a float64 SVD gives rounding noise there)."""
    x = _features(300, 500, rank=10)
    ours = np.asarray(_stats.exact_pca(x, 16))
    _assert_matches_float64(ours, x, 16, columns=10)
    assert (ours[:, 10:] == 0).all()


def test_top_eigh_matches_dense_eigh_converged_or_not():
    """A decaying spectrum converges in a few rounds; an isotropic one (no gap below the 16th eigenvalue)
    takes the dense fallback. Both agree with float64 eigenvalues, in one bank and one at a time."""
    rng = np.random.default_rng(1)
    decaying = _features(400, 900, decay=0.7)
    flat = rng.normal(size=(400, 4000)).astype(np.float32)
    grams = jnp.stack([_stats.gram(jnp.asarray(x - x.mean(0))) for x in (decaying, flat)])
    batched = jax.jit(jax.vmap(lambda g: _stats.top_eigh(g, 16)))(grams)
    for i, g in enumerate(np.asarray(grams, np.float64)):
        expected = np.linalg.eigvalsh(g)[::-1][:16]
        values, vectors = jax.jit(_stats.top_eigh, static_argnums=1)(grams[i], 16)
        np.testing.assert_allclose(values, expected, rtol=1e-4)
        np.testing.assert_allclose(batched[0][i], expected, rtol=1e-4)
        residual = np.linalg.norm(g @ vectors - np.asarray(vectors) * np.asarray(values), axis=0)
        assert residual.max() <= 1e-5 * expected[0]


@pytest.mark.parametrize("platform", ["cpu", "gpu"])  # the tridiagonal route (CPU, k > 32) and the filter
def test_top_eigh_of_many_pairs_matches_float64(platform):
    """k = 40 of a decaying spectrum, a flat one and one of rank 30 (a cluster of zero eigenvalues among the
    wanted ones): float64 eigenvalues, small residuals, orthonormal vectors, in one bank and one at a time."""
    rng = np.random.default_rng(4)
    cases = [_features(300, 900, decay=0.7), rng.normal(size=(300, 2000)), _features(300, 900, rank=30)]
    grams = jnp.stack([_stats.gram(jnp.asarray(x - x.mean(0), jnp.float32)) for x in cases])
    with _platform.building_for(platform):
        batched = jax.jit(jax.vmap(lambda g: _stats.top_eigh(g, 40)))(grams)
        singles = [jax.jit(_stats.top_eigh, static_argnums=1)(g, 40) for g in grams]
    for i, g in enumerate(np.asarray(grams, np.float64)):
        expected = np.linalg.eigvalsh(g)[::-1][:40]
        for values, vectors in (singles[i], (batched[0][i], batched[1][i])):
            values, vectors = np.asarray(values, np.float64), np.asarray(vectors, np.float64)
            np.testing.assert_allclose(values, expected, atol=1e-5 * expected[0])
            residual = np.linalg.norm(g @ vectors - vectors * values, axis=0)
            assert residual.max() <= 1e-5 * expected[0]
            np.testing.assert_allclose(vectors.T @ vectors, np.eye(40), atol=1e-4)


def test_tridiagonal_reflectors_are_the_reduction():
    """Q T Q^T rebuilds g, with Q applied blockwise from the packed reflectors of the reduction."""
    x = np.random.default_rng(5).normal(size=(150, 90)).astype(np.float32)
    g = jnp.asarray(x @ x.T)
    packed, diagonal, off_diagonal, taus = jax.lax.linalg.tridiagonal(g, lower=False)
    t = np.diag(diagonal) + np.diag(off_diagonal, 1) + np.diag(off_diagonal, -1)
    q = np.asarray(_tridiagonal.apply_reflectors(packed, taus, jnp.eye(150)), np.float64)
    np.testing.assert_allclose(q.T @ q, np.eye(150), atol=1e-5)
    np.testing.assert_allclose(q @ t @ q.T, np.asarray(g, np.float64), atol=1e-4 * float(jnp.abs(g).max()))


def test_shifted_tridiagonal_lu_solves_with_row_swaps():
    """The k shifted systems (T - lambda_j I) x = b, factored together, match a float64 solve, also where a
    zero diagonal forces row swaps (elimination without pivoting would divide by 0 at the first step)."""
    rng = np.random.default_rng(6)
    n, k = 40, 3
    off_diagonal = rng.uniform(0.5, 2.0, n - 1)
    shifts = np.array([0.0, 0.3, -1.7])
    for diagonal in (np.zeros(n), rng.normal(size=n) * 3):
        t = np.diag(diagonal) + np.diag(off_diagonal, 1) + np.diag(off_diagonal, -1)
        b = rng.normal(size=(n, k))
        lu = _tridiagonal._factor_shifted(
            jnp.asarray(diagonal[:, None] - shifts[None, :], jnp.float32), jnp.asarray(off_diagonal, jnp.float32), 1e-30
        )
        ours = np.asarray(_tridiagonal._solve_factored(lu, jnp.asarray(b, jnp.float32)), np.float64)
        expected = np.stack([np.linalg.solve(t - s * np.eye(n), b[:, j]) for j, s in enumerate(shifts)], axis=1)
        np.testing.assert_allclose(ours, expected, atol=1e-4 * np.abs(expected).max())
        if not diagonal.any():
            assert bool(np.asarray(lu[4])[0, 0])  # the zero shift swapped rows 0 and 1


def test_tridiagonal_route_converges_without_the_dense_fallback():
    """Inverse iteration and Rayleigh-Ritz alone reach the residual tolerance on a decaying and on a flat
    spectrum (the route's flag; `top_eigh` would hide a failure behind its dense fallback)."""
    rng = np.random.default_rng(4)
    for x in (_features(300, 900, decay=0.7), rng.normal(size=(300, 2000))):
        g = _stats.gram(jnp.asarray(x - x.mean(0), jnp.float32))
        values, vectors, converged = _tridiagonal.top_eigh(
            g, 40, tolerance=_stats.TOP_EIGH_TOLERANCE, resolved=_stats.TOP_EIGH_RESOLVED
        )
        assert bool(converged)
        expected = np.linalg.eigvalsh(np.asarray(g, np.float64))[::-1][:40]
        np.testing.assert_allclose(values, expected, atol=1e-5 * expected[0])


def test_parc_n_dims_agrees_with_float64_pca_parc():
    x = _features(300, 700, decay=0.5, seed=3)
    labels = np.arange(300) % 7
    expected = reference.parc(x, labels, 7, n_dims=24)
    assert float(estimators.parc(x, labels, 7, n_dims=24)) == pytest.approx(expected, abs=0.05)


def test_platform_follows_the_inputs_not_the_default_backend(monkeypatch):
    """Arrays on a CPU build CPU programs even where the default backend is an accelerator."""
    x = jax.device_put(np.ones((3, 4), np.float32), jax.devices("cpu")[0])
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert _platform.of(x) == "cpu"
    assert _platform.of(np.ones(3)) == "gpu"  # host arrays go to the default device
    seen = []
    real = _engine.models_per_step
    monkeypatch.setattr(_engine, "models_per_step", lambda *a, **k: seen.append(_platform.current()) or real(*a, **k))
    features = jax.device_put(np.random.default_rng(0).normal(size=(2, 41, 5)).astype(np.float32), x.devices().pop())
    estimators.score_bank("knn", features, np.arange(41) % 3, 3)
    assert seen == ["cpu"]
    assert _platform.current() == "gpu"  # outside the engine: the default backend


@pytest.mark.parametrize("platform", ["cpu", "gpu"])
def test_cpu_and_accelerator_routes_agree(platform):
    """The accelerator routes (one-hot LEEP product) traced on this CPU give the CPU routes' numbers."""
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(60, 9)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    labels = np.arange(60) % 4
    (label_args, static) = _leep._prepare(labels, 4, n=60, d=9)
    x = rng.normal(size=(300, 1100)).astype(np.float32)
    with _platform.building_for(platform):
        leep = jax.jit(lambda p, *a: _leep._kernel(p, *a, **static))(probs, *label_args)
        gram = jax.jit(_stats.gram)(x)
    assert float(leep) == pytest.approx(reference.leep(probs, labels, 4), rel=1e-5)
    np.testing.assert_allclose(gram, x.astype(np.float64) @ x.T.astype(np.float64), rtol=1e-4, atol=1e-2)
