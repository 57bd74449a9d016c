"""NLEEP: Neural LEEP (Li, Jia, Wang, Zhou, Liu, Ouyang, Zhu, Sun, Liu, "Ranking Neural Checkpoints",
CVPR 2021).

LEEP with the source classifier replaced by a Gaussian mixture fit on the target features:

1. PCA keeping 80% of the variance: the k leading principal scores, k the smallest number of
   components whose cumulative explained-variance ratio exceeds 0.8 (scikit-learn's
   `PCA(n_components=0.8)`).
2. A Gaussian mixture with K = 5 C' components (C' the classes present) on the scores, as
   scikit-learn's `GaussianMixture(K)` fits it (`_mixture`): full covariances + 1e-6 I, one k-means++
   initialisation, EM to a mean log-likelihood change below 1e-3, at most 100 iterations. Posteriors
   r_iv = p(v | x_i).
3. P(y, v) = (1/N) sum_{i: y_i = y} r_iv,   P(y | v) = P(y, v) / sum_y' P(y', v),
   p_i = sum_v r_iv P(y_i | v),   NLEEP = (1/N) sum_i log p_i.

Release: TencentARC/SFDA `metrics.py` (`NLEEP`, component ratio 5). Differences: the release returns
mean_i p_i without the log ("in case of instability"; `log=False` gives it); it fails when K > N
(scikit-learn's "Expected n_samples >= n_components"), where this raises a `ValueError` naming
`components_per_class`, and `components_per_class="auto"` fits N // C' components per class instead;
its GaussianMixture draws from NumPy's global stream, here from `jax.random` with an explicit seed,
so a score is one draw from the release's distribution over seeds, not its value for the same seed.

k depends on the data, so the kernel works at a static width: the scores are computed for all
min(N, D) components, those beyond k set to 0, and the mixture is fit on the first w columns, w the
smallest of 64, 128, 256, ..., min(N, D) that holds k (`lax.switch`; in a bank, the widest w any
model of a vectorised step needs). The zero columns change no posterior: every component's
covariance is the regulariser there, and the constants count k dimensions, not w.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from parc_jax.estimators import _engine, _labels, _mixture, _platform, _stats

VARIANCE_KEPT = 0.8
COMPONENTS_PER_CLASS = 5
MIN_WIDTH = 64
# The M-step gathers 16 + 3 ceil(N / K) member slots per component (N / K is the mean cluster size); a
# fit in which a component has more nonzero posteriors is redone with every sample a member.
MEMBER_SLOTS = (16, 3)
# Components whose log-densities are evaluated together: at most this many elements of the [N, w]
# arrays each holds. On a CPU small blocks stay in cache: the E-step at N = 500, w = 500, K = 185 took
# 48-67 ms in blocks of 2 components, 68-88 ms in blocks of 8, 230-265 ms all at once (2-core VM).
# On accelerators the budget bounds memory, as the bank's steps vectorise hundreds of models.
BLOCK_ELEMENTS = {"cpu": 2**19, "accelerator": 2**22}


def principal_scores(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Principal scores of x [N, D] that keep VARIANCE_KEPT of the variance: ([N, min(N, D)] scores
    with the columns beyond k set to 0, k)."""
    centred = x - x.mean(axis=0)
    u, sigma = _stats.gram_eigh(centred)
    explained = jnp.cumsum(sigma) / jnp.sum(centred * centred)
    k = jnp.minimum(jnp.sum(explained <= VARIANCE_KEPT) + 1, sigma.shape[0])
    scores = u * jnp.sqrt(sigma)
    return jnp.where(jnp.arange(sigma.shape[0]) < k, scores, 0.0), k


def widths(full: int) -> list[int]:
    """The static widths the mixture is fit at: MIN_WIDTH, 2 MIN_WIDTH, ... below `full`, then `full`."""
    out = []
    while (MIN_WIDTH << len(out)) < full:
        out.append(MIN_WIDTH << len(out))
    return out + [full]


def nleep_from_posteriors(posteriors: jax.Array, labels: jax.Array, num_classes: int, log: jax.Array) -> jax.Array:
    """mean_i log p_i (`log` True) or mean_i p_i, p_i = sum_v r_iv P(y_i | v), from the posteriors r [N, K]."""
    joint = jax.ops.segment_sum(posteriors, labels, num_segments=num_classes) / labels.shape[0]  # [C, K]
    marginal = jnp.sum(joint, axis=0)
    conditional = jnp.where(marginal > 0, joint / jnp.where(marginal > 0, marginal, 1.0), 0.0)
    p = jnp.sum(posteriors * conditional[labels], axis=1)
    return jnp.where(log, jnp.mean(jnp.log(p)), jnp.mean(p))


def _fit(scores, labels, seed, log, k, *, width, num_classes, num_components, members):
    """NLEEP from the first `width` columns of the masked principal scores."""
    x = scores[:, :width]
    block = max(1, BLOCK_ELEMENTS["cpu" if _platform.is_cpu() else "accelerator"] // (x.shape[0] * width))
    clusters = _mixture.kmeans_labels(x, num_components, jax.random.key(seed), k)
    fit = functools.partial(_mixture.mixture_posteriors, num_components=num_components, block=block)
    posteriors, exact = fit(x, clusters, dims=k, members=members)
    posteriors = _engine.computed_unless(
        exact, posteriors, lambda x, clusters, k: fit(x, clusters, dims=k, members=x.shape[0])[0], x, clusters, k
    )
    return nleep_from_posteriors(posteriors, labels, num_classes, log)


def _by_width(k, sizes, branches, operands):
    """branches[i](*operands) for the narrowest sizes[i] >= k; in a vmapped bank, the widest any model
    of the batch needs (one branch runs per batch, not every branch for every model)."""

    @jax.custom_batching.custom_vmap
    def switch(k, operands):
        return jax.lax.switch(jnp.sum(k > np.array(sizes)), branches, *operands)

    @switch.def_vmap
    def switch_batched(axis_size, in_batched, k, operands):
        axes = [0 if batched else None for batched in in_batched[1]]
        batched = [jax.vmap(branch, in_axes=axes) for branch in branches]
        return jax.lax.switch(jnp.sum(jnp.max(k) > np.array(sizes)), batched, *operands), True

    return switch(k, list(operands))


def _kernel(features, labels, seed, log, *, num_classes, num_components, members):
    scores, k = principal_scores(features)
    sizes = widths(scores.shape[1])
    static = dict(num_classes=num_classes, num_components=num_components, members=members)
    branches = [functools.partial(_fit, width=w, **static) for w in sizes]
    return _by_width(k, sizes, branches, (scores, labels, seed, log, k))


def member_slots(n: int, num_components: int) -> int:
    """Member slots of the sparse M-step (`_mixture`) for N samples and K components."""
    base, per_mean_cluster = MEMBER_SLOTS
    return min(n, base + per_mean_cluster * math.ceil(n / num_components))


def _components(components_per_class, present: int, n: int) -> int:
    """K = components_per_class x the classes present, checked against N ("auto": 5, or N // C' if fewer fit)."""
    if components_per_class == "auto":
        return min(COMPONENTS_PER_CLASS, n // present) * present
    if isinstance(components_per_class, bool) or not isinstance(components_per_class, (int, np.integer)):
        raise ValueError(f"components_per_class must be a positive int or 'auto', got {components_per_class!r}")
    if components_per_class < 1:
        raise ValueError(f"components_per_class must be a positive int or 'auto', got {components_per_class}")
    num_components = int(components_per_class) * present
    if num_components > n:
        raise ValueError(
            f"NLEEP fits components_per_class x classes = {components_per_class} x {present} = {num_components} "
            f"mixture components, more than the N = {n} samples: pass components_per_class <= {n // present} "
            "(or 'auto'), or probe more samples"
        )
    return num_components


def _prepare(labels, num_classes, *, n, d, components_per_class=COMPONENTS_PER_CLASS, seed=0, log=True):
    (labels,), static = _labels.prepare_class_labels(labels, num_classes, n=n, d=d)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an int in [0, 2**32), got {seed!r}")
    if not isinstance(log, bool):
        raise ValueError(f"log must be True or False, got {log!r}")
    num_components = _components(components_per_class, int(np.unique(np.asarray(labels)).size), n)
    members = member_slots(n, num_components)
    return (labels, jnp.asarray(np.uint32(seed)), jnp.asarray(log)), dict(
        static, num_components=num_components, members=members
    )


SPEC = _engine.EstimatorSpec(
    name="nleep",
    input_kind="features",
    prepare=_prepare,
    kernel=_kernel,
    description="NLEEP (Li et al. 2021): LEEP on the posteriors of a Gaussian mixture on 80%-variance PCA scores",
)


def nleep(
    features: jax.typing.ArrayLike,
    labels,
    num_classes: int,
    *,
    components_per_class: int | str = COMPONENTS_PER_CLASS,
    seed: int = 0,
    log: bool = True,
) -> jax.Array:
    """NLEEP (Li et al., CVPR 2021): the mean log-likelihood of the labels under a Gaussian mixture's
    soft cluster assignments.

    With r_iv the posteriors of a K-component full-covariance Gaussian mixture fit on the PCA scores
    that keep 80% of the variance, P(y | v) = sum_{i: y_i = y} r_iv / sum_i r_iv and
    p_i = sum_v r_iv P(y_i | v): NLEEP = (1/N) sum_i log p_i.

    Args:
      features: [N, D] probe features.
      labels: [N] int target labels in [0, num_classes).
      num_classes: C.
      components_per_class: mixture components per class present (5, as the SFDA release); K =
        components_per_class x the classes present must not exceed N (a `ValueError` otherwise, where the
        release fails). "auto": 5, or N // C' where 5 C' > N (the SFDA release's scripts drop to 1 per
        class for such targets by hand); `bank.VARIANTS` use it, so that any target can be scored.
      seed: the seed of the k-means++ initialisation (`jax.random.key(seed)`; not NumPy's stream, so
        not the release's draws for the same seed).
      log: True for the paper's mean log p_i (<= 0); False for the TencentARC/SFDA release's mean p_i
        (in [0, 1]), which drops the log.

    Returns:
      Scalar; higher predicts better transfer.
    """
    return _engine.run(
        SPEC, features, labels, num_classes, components_per_class=components_per_class, seed=seed, log=log
    )
