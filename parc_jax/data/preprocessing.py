"""Eval-time image transforms: resize (antialiased), centre crop, grayscale -> RGB, normalise.

The transforms take the four numbers of a zoo model's preprocessing metadata (``input_size``,
``resize_size``, ``mean``, ``std``; mean and std per channel in 0..255 units), either as any
object with those attributes (e.g. ``parc_jax.models``' ``Preprocessing``) or explicitly.

The eval transform follows torchvision's ``Resize(resize_size)`` + ``CenterCrop(input_size)``
(as in the PARC release's test transforms), computed in one
``jax.image.scale_and_translate`` pass that produces only the cropped pixels:

  * resized size: the shorter side becomes ``R = resize_size``, the longer ``int(L * R / S)``;
  * crop offset: ``top = round((new_h - input_size) / 2)``, same for ``left``;
  * sampling: bilinear (triangle kernel), antialiased when shrinking (kernel widened by 1/scale);
  * output: ``(crop(resize(x)) - mean) / std``, float32 ``[B, input_size, input_size, 3]``.
"""

from __future__ import annotations

import functools
from typing import Protocol, Sequence

import jax
import jax.numpy as jnp
import numpy as np


class PreprocessingLike(Protocol):
    """What the transforms need from a model's preprocessing metadata."""

    input_size: int
    resize_size: int
    mean: Sequence[float]
    std: Sequence[float]


def as_spec(preprocessing: PreprocessingLike) -> tuple[int, int, tuple[float, ...],
                                                        tuple[float, ...]]:
    """``(input_size, resize_size, mean, std)`` as a hashable tuple, validated.

    Raises:
      ValueError: sizes out of order, or not 3 means / 3 positive stds.
    """
    try:
        spec = (int(preprocessing.input_size), int(preprocessing.resize_size),
                tuple(float(m) for m in preprocessing.mean),
                tuple(float(s) for s in preprocessing.std))
    except AttributeError as e:
        raise ValueError(f"preprocessing needs input_size, resize_size, mean and std; got "
                         f"{type(preprocessing).__name__}") from e
    input_size, resize_size, mean, std = spec
    if input_size < 1 or resize_size < input_size:
        raise ValueError(f"preprocessing needs 1 <= input_size <= resize_size, got "
                         f"{input_size}, {resize_size}")
    if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
        raise ValueError(f"preprocessing needs 3 means and 3 positive stds, got {mean}, {std}")
    return spec


def resized_shape(height: int, width: int, resize_size: int) -> tuple[int, int]:
    """Shape after torchvision's ``Resize(resize_size)``: shorter side ``resize_size``."""
    if height <= width:
        return resize_size, int(width * resize_size / height)
    return int(height * resize_size / width), resize_size


def to_rgb(images: jax.Array) -> jax.Array:
    """``[..., 1]`` grayscale -> ``[..., 3]`` by repetition; RGB passes through."""
    c = images.shape[-1]
    if c == 3:
        return images
    if c == 1:
        return jnp.broadcast_to(images, images.shape[:-1] + (3,))
    raise ValueError(f"images must have 1 or 3 channels, got {c}")


def normalize(images: jax.Array, mean: Sequence[float], std: Sequence[float]) -> jax.Array:
    """``(x - mean) / std`` per channel, ``x`` in 0..255 units; float32 out."""
    mean = jnp.asarray(mean, jnp.float32)
    std = jnp.asarray(std, jnp.float32)
    return (images.astype(jnp.float32) - mean) / std


def resize_center_crop(images: jax.Array, *, resize_size: int, input_size: int) -> jax.Array:
    """torchvision ``Resize(resize_size)`` then ``CenterCrop(input_size)``, antialiased bilinear.

    Args:
      images: ``[B, H, W, C]`` uint8 or float (0..255 units).
      resize_size: the shorter side is resized to this.
      input_size: side of the centred square kept.

    Returns:
      float32 ``[B, input_size, input_size, C]``.
    """
    b, h, w, c = images.shape
    nh, nw = resized_shape(h, w, resize_size)
    top = int(round((nh - input_size) / 2.0))
    left = int(round((nw - input_size) / 2.0))
    x = images.astype(jnp.float32)
    if (nh, nw) == (h, w):
        return x[:, top:top + input_size, left:left + input_size, :]
    scale = jnp.array([nh / h, nw / w], jnp.float32)
    translation = jnp.array([-top, -left], jnp.float32)
    return jax.image.scale_and_translate(
        x, (b, input_size, input_size, c), (1, 2), scale, translation,
        method="linear", antialias=True)


@functools.partial(jax.jit, static_argnames=("spec",))
def _eval_transform(images, spec):
    input_size, resize_size, mean, std = spec
    x = resize_center_crop(images, resize_size=resize_size, input_size=input_size)
    return normalize(to_rgb(x), mean, std)


def eval_transform(images: jax.typing.ArrayLike, preprocessing: PreprocessingLike) -> jax.Array:
    """Resize + centre crop + grayscale->RGB + normalise (jitted; one trace per input shape).

    Args:
      images: ``[B, H, W, C]``, ``C`` in {1, 3}, uint8 or float in 0..255 units.
      preprocessing: ``input_size``, ``resize_size``, ``mean``, ``std`` (0..255 units).

    Returns:
      float32 ``[B, S, S, 3]``, ``S = preprocessing.input_size``.
    """
    if np.ndim(images) != 4 or np.shape(images)[-1] not in (1, 3):
        raise ValueError(f"eval_transform expects images [B, H, W, C] with C in {{1, 3}}, got "
                         f"shape {np.shape(images)}")
    return _eval_transform(jnp.asarray(images), as_spec(preprocessing))
