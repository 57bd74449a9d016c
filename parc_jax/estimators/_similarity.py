"""RSA and DDS: how similar a model's representation of the probe images is to a reference model's.

Both compare the features F [N, D] of the scored model with the features R [N, R] of a reference model
on the same N images (in the PARC release, the reference architecture fine-tuned on the target). Each
is first reduced by an optional exact PCA to n_dims (fitted separately on F and on R) and
column-standardised.

RSA, representational similarity analysis (Dwivedi & Roig, CVPR 2019):

    RDM_F[i, j] = 1 - pearson(F_i, F_j),   RDM_R likewise,
    RSA = 100 * spearman(triu(RDM_F), triu(RDM_R))      over the N(N-1)/2 pairs i < j.

DDS, duality diagram similarity (Dwivedi, Huang, Cichy, Roig, ECCV 2020), as the PARC release computes
it: debiased centred kernel alignment (Song et al. 2012; Kornblith et al. 2019) of the cosine
dissimilarity matrices,

    K_F[i, j] = 1 - cos(F_i, F_j),   K_R likewise,
    DDS = 100 * <U(K_F), U(K_R)>_F / (||U(K_F)||_F ||U(K_R)||_F),

with U the U-centring of `u_centered`. U-centring removes any constant offset of the off-diagonal
entries and ignores the diagonal, so U(1 - S) = -U(S) and the kernels can be the cosine similarities S
themselves (the release's 1 - S gives the same value).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from parc_jax.estimators import _engine, _parc, _stats, _validation


def _prepare(reference, num_classes, *, n, d, n_dims=None):
    """The reference features as the traced argument shared by the bank; `num_classes` is unused."""
    del num_classes
    reference = _validation.check_reference(reference, n)
    reference_dims = _validation.check_n_dims(n_dims, n, reference.shape[1])  # each clamped to its own width
    n_dims = _validation.check_n_dims(n_dims, n, d)
    return (reference,), dict(n_dims=n_dims, reference_dims=reference_dims)


def _standardized(x: jax.Array, n_dims: int | None) -> jax.Array:
    return _stats.standardize_columns(_stats.reduce_dims(x, n_dims))


def _rsa_kernel(features, reference, *, n_dims, reference_dims):
    unit = _stats.unit_rows(_standardized(features, n_dims))
    reference_unit = _stats.unit_rows(_standardized(reference, reference_dims))
    return _parc.triangle_spearman(unit, -_stats.gram(reference_unit))


def u_centered(kernel: jax.Array) -> jax.Array:
    """U-centring of a symmetric [N, N] kernel (Song et al. 2012), the unbiased HSIC's centring:

    m_j = sum_{i != j} K_ij / (N - 2) - sum_{i != l} K_il / (2 (N - 1) (N - 2)),
    U(K)_ij = K_ij - m_i - m_j  (i != j),   U(K)_ii = 0.
    """
    n = kernel.shape[0]
    off_diagonal = ~jnp.eye(n, dtype=bool)
    kernel = jnp.where(off_diagonal, kernel, 0.0)
    means = kernel.sum(axis=0) / (n - 2)
    means = means - means.sum() / (2 * (n - 1))
    return jnp.where(off_diagonal, kernel - means[:, None] - means[None, :], 0.0)


def _cosine_kernel(x: jax.Array, n_dims: int | None) -> jax.Array:
    return u_centered(_stats.gram(_stats.normalize_rows(_standardized(x, n_dims))))


def _dds_kernel(features, reference, *, n_dims, reference_dims):
    k_f = _cosine_kernel(features, n_dims)
    k_r = _cosine_kernel(reference, reference_dims)
    return 100.0 * jnp.sum(k_f * k_r) / jnp.sqrt(jnp.sum(k_f * k_f) * jnp.sum(k_r * k_r))


RSA_SPEC = _engine.EstimatorSpec(
    name="rsa",
    input_kind="features",
    prepare=_prepare,
    kernel=_rsa_kernel,
    min_cols=2,
    description="RSA (Dwivedi & Roig 2019): Spearman x100 of the model's and a reference model's RDMs",
    target="reference",
)

DDS_SPEC = _engine.EstimatorSpec(
    name="dds",
    input_kind="features",
    prepare=_prepare,
    kernel=_dds_kernel,
    min_cols=2,
    description="DDS (Dwivedi et al. 2020): debiased CKA x100 of cosine dissimilarities with a reference model",
    target="reference",
)


def rsa(features: jax.typing.ArrayLike, reference_features, *, n_dims: int | None = None) -> jax.Array:
    """Representational similarity analysis with a reference model (Dwivedi & Roig, CVPR 2019), x100.

    Args:
      features: [N, D] probe features of the scored model.
      reference_features: [N, R] features of the reference model on the same N images (the PARC
        release uses the same architecture fine-tuned on the target).
      n_dims: if given, exact PCA to this many dimensions first, fitted separately on the features and
        on the reference (each clamped to min(N, its width)).

    Returns:
      Scalar: 100 x Spearman correlation between the upper triangles of the two 1 - Pearson RDMs.
    """
    return _engine.run(RSA_SPEC, features, reference_features, None, n_dims=n_dims)


def dds(features: jax.typing.ArrayLike, reference_features, *, n_dims: int | None = None) -> jax.Array:
    """Duality diagram similarity with a reference model (Dwivedi et al., ECCV 2020), x100.

    Args:
      features: [N, D] probe features of the scored model.
      reference_features: [N, R] features of the reference model on the same N images.
      n_dims: if given, exact PCA to this many dimensions first, fitted separately on each.

    Returns:
      Scalar: 100 x debiased centred kernel alignment of the two cosine dissimilarity matrices.
    """
    return _engine.run(DDS_SPEC, features, reference_features, None, n_dims=n_dims)
