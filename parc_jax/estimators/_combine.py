"""Bank-relative scores: per-model terms scaled over the bank and summed.

NCTI and ETran score a model against the other models of its bank: each term is min-max scaled over the
M models, t' = (t - min_m t) / (max_m t - min_m t), and the scaled terms are summed with fixed weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp


def min_max_combine(terms: jax.typing.ArrayLike, weights: Sequence[float]) -> jax.Array:
    """sum_t weights[t] * minmax_over_models(terms[:, t]); returns [M].

    Args:
      terms: [M, T] per-model terms of one bank (one target).
      weights: T weights.

    Returns:
      [M] combined scores. A term that is equal for every model carries no information about the
      ranking and contributes 0 (the releases divide by zero there and return NaN).
    """
    terms = jnp.asarray(terms, jnp.float32)
    if terms.ndim != 2 or terms.shape[1] != len(weights):
        raise ValueError(f"terms must have shape [M, {len(weights)}], got {terms.shape}")
    low, high = terms.min(axis=0), terms.max(axis=0)
    spread = high - low
    scaled = jnp.where(spread > 0, (terms - low) / jnp.where(spread > 0, spread, 1.0), 0.0)
    return scaled @ jnp.asarray(weights, jnp.float32)
