"""PED: Potential Energy Decline (Li, Wu, Liu, Ji, Zhang, Gao, ICCV 2023), as the authors' release
(lixiaotong97/PED, `PED_Score` / `One_Step_PED`, defaults of `evaluate_metric_cpu.py`) computes it.

PED lets the classes of the probe set repel each other for a few steps of a physical simulation and
then scores the moved features with SFDA (the paper's headline) or LogME. One step, in standardised
units U = (X - g) / s (g, s the column mean and max(population std, 1e-3) of the target features):
class means u_c, radii r_c = sqrt(sum_d Var_c[u_d]); for every pair a != b with distance
d = ||u_a - u_b|| and overlap o = max(0.6 r_a + 0.6 r_b - d, 0), class a moves by
(u_a - u_b) / d * min(tau^2 / 2 * o, o) (tau = 0.1), and b symmetrically; every sample moves with its
class. The step size is sum_c ||shift_c||_1. Step 0 is accepted unless its size is 0; step j while
size_j / size_0 > 0.5; the loop stops at the first rejected step (not applied) or after 6 steps.

Whole classes move, so the class variances and radii never change: the steps run on the C class means
only, and the samples are moved once at the end.

Release difference: the release standardises with the statistics of the same backbone's ImageNet
validation features (`general_X`), which a probe set does not include; here g and s are those of the
target features themselves (as the reference values do).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from parc_jax.estimators import _engine, _fisher, _labels, _logme, _sfda

TIME_STEP = 0.1
SIGMA_SCALE = 0.6
EXIT_RATIO = 0.5
MAX_STEPS = 6
MIN_STD = 1e-3
BASES = ("sfda", "logme")


def _step(means: jax.Array, radii: jax.Array, present: jax.Array) -> jax.Array:
    """The shift [C, D] of every class mean in one step."""
    square = jnp.sum(means**2, axis=1)
    gram = jnp.matmul(means, means.T, precision=jax.lax.Precision.HIGHEST)
    distance = jnp.sqrt(jnp.maximum(square[:, None] + square[None, :] - 2 * gram, 0.0))
    overlap = jnp.maximum(SIGMA_SCALE * (radii[:, None] + radii[None, :]) - distance, 0.0)
    move = jnp.minimum(TIME_STEP**2 / 2 * overlap, overlap)
    pairs = present[:, None] & present[None, :] & ~jnp.eye(means.shape[0], dtype=bool)
    weights = jnp.where(pairs & (move > 0), move / jnp.where(distance > 0, distance, 1.0), 0.0)
    return weights.sum(axis=1)[:, None] * means - jnp.matmul(weights, means, precision=jax.lax.Precision.HIGHEST)


def moved_features(x: jax.Array, labels: jax.Array, num_classes: int) -> jax.Array:
    """The features after PED's accepted steps."""
    g = x.mean(axis=0)
    s = jnp.maximum(jnp.sqrt(jnp.mean((x - g) ** 2, axis=0)), MIN_STD)
    u = (x - g) / s
    means, counts = _fisher.class_means(u, labels, num_classes)
    variances, _ = _fisher.class_means((u - means[labels]) ** 2, labels, num_classes)
    radii = jnp.sqrt(variances.sum(axis=1))
    present = counts > 0
    centre = means.sum(axis=0) / present.sum()
    means = jnp.where(present[:, None], means - centre, 0.0)  # distances only: centred for float32

    def body(carry, _):
        means, total, first, running = carry
        shift = _step(means, radii, present)
        size = jnp.sum(jnp.abs(shift))
        first = jnp.where(jnp.isnan(first), size, first)
        accepted = running & (size / first > EXIT_RATIO)
        shift = jnp.where(accepted, shift, 0.0)
        return (means + shift, total + shift, first, accepted), None

    start = (means, jnp.zeros_like(means), jnp.float32(jnp.nan), jnp.bool_(True))
    (_, total, _, _), _ = jax.lax.scan(body, start, None, length=MAX_STEPS)
    return x + total[labels] * s


def _kernel(features, labels, *, num_classes, base):
    moved = moved_features(features, labels, num_classes)
    if base == "sfda":
        return _sfda.sfda_kernel(moved, labels, num_classes=num_classes)
    return jnp.mean(_logme.evidence(moved, jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)))


def _prepare(labels, num_classes, *, n, d, base="sfda"):
    if base not in BASES:
        raise ValueError(f"base must be one of {BASES}, got {base!r}")
    return _labels.prepare_class_labels(labels, num_classes, n=n, d=d, base=base)


SPEC = _engine.EstimatorSpec(
    name="ped",
    input_kind="features",
    prepare=_prepare,
    kernel=_kernel,
    description="PED (Li et al. 2023): SFDA (or LogME, base='logme') after the classes' potential-energy dynamics",
)


def ped(features: jax.typing.ArrayLike, labels, num_classes: int, *, base: str = "sfda") -> jax.Array:
    """PED score (Li et al., ICCV 2023), as lixiaotong97/PED computes it.

    Args:
      features: [N, D] probe features.
      labels: [N] int target labels in [0, num_classes).
      num_classes: C.
      base: the score of the moved features, "sfda" (the paper's headline) or "logme".

    Returns:
      Scalar. Higher predicts better transfer.
    """
    return _engine.run(SPEC, features, labels, num_classes, base=base)
