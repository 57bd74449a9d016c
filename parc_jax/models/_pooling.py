"""Pooling layers with torch's exact output sizes (ceil-mode max-pooling, adaptive average pooling)."""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def _ceil_pool_padding(size: int, window: int, stride: int, padding: int) -> tuple[int, int]:
    """(left, right) padding that gives torch's `ceil_mode=True` output size: ceil((H + 2p - k) / s) + 1,
    less one if the last window would start in the right padding."""
    out = math.ceil((size + 2 * padding - window) / stride) + 1
    if (out - 1) * stride >= size + padding:
        out -= 1
    return padding, max(0, (out - 1) * stride + window - size - padding)


def max_pool_ceil(x: jax.Array, window: int, stride: int, padding: int = 0) -> jax.Array:
    """torch `MaxPool2d(window, stride, padding, ceil_mode=True)` on NHWC x (pads with -inf)."""
    pads = tuple(_ceil_pool_padding(x.shape[axis], window, stride, padding) for axis in (1, 2))
    return nn.max_pool(x, (window, window), strides=(stride, stride), padding=pads)


def _adaptive_matrix(size: int, out: int) -> np.ndarray:
    """[out, size] averaging weights of torch's adaptive pooling bins [floor(i H / o), ceil((i + 1) H / o))."""
    weights = np.zeros((out, size), np.float32)
    for i in range(out):
        start, stop = (i * size) // out, -((-(i + 1) * size) // out)
        weights[i, start:stop] = 1.0 / (stop - start)
    return weights


def adaptive_avg_pool(x: jax.Array, size: tuple[int, int]) -> jax.Array:
    """torch `AdaptiveAvgPool2d(size)` on NHWC x: the mean over each (possibly overlapping) bin."""
    rows = jnp.asarray(_adaptive_matrix(x.shape[1], size[0]))
    cols = jnp.asarray(_adaptive_matrix(x.shape[2], size[1]))
    return jnp.einsum("ih,jw,bhwc->bijc", rows, cols, x, precision=jax.lax.Precision.HIGHEST)
