"""GBC: Gaussian Bhattacharyya Coefficient (Pandy, Agostinelli, Uijlings, Ferrari, Mensink, CVPR 2022).

The probe features are reduced by an exact PCA to k = min(64, N, D) dimensions; every class c is
modelled as a Gaussian with mean m_c and per-dimension population variance v_cd = max(var, 1e-4).
The Bhattacharyya distance between two classes a, b is, for diagonal covariances
(vbar_d = (v_ad + v_bd) / 2),

    D_B = 1/8 sum_d (m_ad - m_bd)^2 / vbar_d + 1/2 sum_d [log vbar_d - 1/2 log v_ad - 1/2 log v_bd],

and for spherical ones (s_c = mean_d v_cd, sbar = (s_a + s_b) / 2; the covariance s_c I_k has
log-determinant k log s_c)

    D_B = 1/8 ||m_a - m_b||^2 / sbar + k/2 [log sbar - 1/2 log s_a - 1/2 log s_b],

and GBC = - sum over ordered pairs a != b of the present classes of exp(-D_B(a, b)). Higher (closer to
0) predicts better transfer.

Differences from the release (google-research `stable_transfer/transferability/gbc.py`):
- its spherical branch turns the variances into scalars before summing the log-determinant term, so
  that term counts once instead of k times; here it has the factor k of the paper's formula;
- it asks PCA for 64 components unconditionally and fails when min(N, D) < 64; here k = min(64, N, D).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from parc_jax.estimators import _engine, _labels, _stats

PCA_DIMS = 64
VARIANCE_FLOOR = 1e-4
GAUSSIANS = ("spherical", "diagonal")


def class_moments(x: jax.Array, labels: jax.Array, num_classes: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Per-class means [C, k] and population variances [C, k] (two passes, no E[x^2] - m^2 cancellation)
    and the class counts [C]; rows of absent classes are 0."""
    counts = jnp.bincount(labels, length=num_classes).astype(jnp.float32)
    safe = jnp.maximum(counts, 1.0)[:, None]
    means = jax.ops.segment_sum(x, labels, num_segments=num_classes) / safe
    variances = jax.ops.segment_sum((x - means[labels]) ** 2, labels, num_segments=num_classes) / safe
    return means, variances, counts


def _bhattacharyya(means, variances, gaussian):
    """[C, C] Bhattacharyya distances between the class Gaussians."""
    k = means.shape[1]
    squared = (means[:, None, :] - means[None, :, :]) ** 2  # [C, C, k]
    if gaussian == "spherical":
        s = variances.mean(axis=1)
        s_bar = (s[:, None] + s[None, :]) / 2
        log_s = jnp.log(s)
        log_term = jnp.log(s_bar) - (log_s[:, None] + log_s[None, :]) / 2
        return squared.sum(axis=-1) / (8 * s_bar) + k / 2 * log_term
    v_bar = (variances[:, None, :] + variances[None, :, :]) / 2
    log_v = jnp.log(variances)
    log_term = jnp.log(v_bar) - (log_v[:, None, :] + log_v[None, :, :]) / 2
    return jnp.sum(squared / v_bar, axis=-1) / 8 + jnp.sum(log_term, axis=-1) / 2


def _kernel(features, labels, *, num_classes, gaussian):
    n, d = features.shape
    reduced = _stats.exact_pca(features, min(PCA_DIMS, n, d), signed=False)
    means, variances, counts = class_moments(reduced, labels, num_classes)
    distances = _bhattacharyya(means, jnp.maximum(variances, VARIANCE_FLOOR), gaussian)
    present = counts > 0
    pairs = present[:, None] & present[None, :] & ~jnp.eye(num_classes, dtype=bool)
    return -jnp.sum(jnp.where(pairs, jnp.exp(-distances), 0.0))


def _prepare(labels, num_classes, *, n, d, gaussian="spherical"):
    if gaussian not in GAUSSIANS:
        raise ValueError(f"gaussian must be one of {GAUSSIANS}, got {gaussian!r}")
    return _labels.prepare_class_labels(labels, num_classes, n=n, d=d, gaussian=gaussian)


SPEC = _engine.EstimatorSpec(
    name="gbc",
    input_kind="features",
    prepare=_prepare,
    kernel=_kernel,
    description="GBC (Pandy et al. 2022): class overlap by Bhattacharyya coefficients after PCA-64",
)


def gbc(features: jax.typing.ArrayLike, labels, num_classes: int, *, gaussian: str = "spherical") -> jax.Array:
    """Gaussian Bhattacharyya Coefficient (Pandy et al., CVPR 2022).

    Args:
      features: [N, D] probe features (reduced by an exact PCA to min(64, N, D) dimensions).
      labels: [N] int target labels in [0, num_classes); absent classes take no part.
      num_classes: C, the number of target classes.
      gaussian: "spherical" (the paper's default; log-determinant term with its factor k, which the
        release drops) or "diagonal".

    Returns:
      Scalar <= 0: minus the sum of the pairwise Bhattacharyya coefficients. Higher predicts better transfer.
    """
    return _engine.run(SPEC, features, labels, num_classes, gaussian=gaussian)
