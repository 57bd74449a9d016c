"""Training augmentation: random resized crop + horizontal flip, a function of (seed, step).

Crop boxes follow torchvision's ``RandomResizedCrop`` (Szegedy et al., "Going deeper with
convolutions", CVPR 2015, "Inception-style" crops): the crop area is a fraction
``U(scale)`` of the image, the aspect ratio ``exp(U(log ratio))``; ten tries, then a centre crop
clamped to the ratio range. The box is resized to ``input_size x input_size`` (bilinear,
antialiased when shrinking), flipped left-right with probability 1/2, turned to RGB and
normalised with the model's mean/std. The box is sampled from the whole image (as TF's
``crop_and_resize``), so the crop's outermost pixels blend with their outside neighbours where
torchvision would clamp at the box edge.

Randomness is explicit: boxes and flips for batch ``step`` of a run with seed ``seed`` come from
``numpy.random.default_rng([seed, step, AUG_STREAM])``, so a resumed run re-creates them.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from parc_jax.data import preprocessing as pp

AUG_STREAM = 0x41554721  # third seed word: keeps augmentation draws apart from shuffling's


def sample_crop_boxes(
    rng: np.random.Generator,
    n: int,
    height: int,
    width: int,
    *,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    attempts: int = 10,
) -> np.ndarray:
    """Draws ``n`` RandomResizedCrop boxes ``[n, 4]`` as ``(top, left, h, w)`` (int64)."""
    area = height * width
    log_r = (math.log(ratio[0]), math.log(ratio[1]))
    target = area * rng.uniform(scale[0], scale[1], size=(n, attempts))
    aspect = np.exp(rng.uniform(log_r[0], log_r[1], size=(n, attempts)))
    w = np.rint(np.sqrt(target * aspect)).astype(np.int64)
    h = np.rint(np.sqrt(target / aspect)).astype(np.int64)
    ok = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    u_top = rng.uniform(size=(n, attempts))
    u_left = rng.uniform(size=(n, attempts))
    # Fallback: centre crop with the aspect ratio clamped to the range.
    in_ratio = width / height
    if in_ratio < ratio[0]:
        fw, fh = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        fw, fh = int(round(height * ratio[1])), height
    else:
        fw, fh = width, height
    boxes = np.empty((n, 4), np.int64)
    first = np.argmax(ok, axis=1)
    for i in range(n):
        if ok[i].any():
            k = first[i]
            bh, bw = h[i, k], w[i, k]
            top = int(u_top[i, k] * (height - bh + 1))
            left = int(u_left[i, k] * (width - bw + 1))
            boxes[i] = (top, left, bh, bw)
        else:
            boxes[i] = ((height - fh) // 2, (width - fw) // 2, fh, fw)
    return boxes


def _crop_resize_one(image, box, flip, size):
    top, left, h, w = box[0], box[1], box[2], box[3]
    scale = jnp.stack([size / h, size / w]).astype(jnp.float32)
    translation = -jnp.stack([top, left]).astype(jnp.float32) * scale
    out = jax.image.scale_and_translate(
        image, (size, size, image.shape[-1]), (0, 1), scale, translation, method="linear", antialias=True
    )
    return jnp.where(flip, out[:, ::-1, :], out)


@functools.partial(jax.jit, static_argnames=("spec",))
def _apply(images, boxes, flips, spec):
    input_size, _, mean, std = spec
    x = jax.vmap(_crop_resize_one, in_axes=(0, 0, 0, None))(images.astype(jnp.float32), boxes, flips, input_size)
    return pp.normalize(pp.to_rgb(x), mean, std)


def crop_resize_flip(
    images: jax.typing.ArrayLike,
    boxes: jax.typing.ArrayLike,
    flips: jax.typing.ArrayLike,
    preprocessing: pp.PreprocessingLike,
) -> jax.Array:
    """Crops ``boxes`` (``[B, 4]`` top, left, h, w), resizes to ``input_size``, flips, normalises.

    Returns:
      float32 ``[B, S, S, 3]``.
    """
    return _apply(
        jnp.asarray(images), jnp.asarray(boxes, jnp.int32), jnp.asarray(flips, bool), pp.as_spec(preprocessing)
    )


def train_transform(
    images: np.ndarray,
    preprocessing: pp.PreprocessingLike,
    *,
    seed: int,
    step: int,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    flip: bool = True,
) -> jax.Array:
    """Random resized crop + flip + RGB + normalise of one batch; deterministic in (seed, step).

    Args:
      images: ``[B, H, W, C]`` uint8 (C in {1, 3}).
      preprocessing: the model's ``input_size``, ``mean``, ``std`` (``resize_size`` unused).
      seed: run seed.
      step: training step (batch index); with ``seed`` it fixes every random draw.
      scale: range of the crop area as a fraction of the image area.
      ratio: range of the crop aspect ratio (width / height).
      flip: flip left-right with probability 1/2.

    Returns:
      float32 ``[B, S, S, 3]``, ``S = preprocessing.input_size``.
    """
    if np.ndim(images) != 4 or np.shape(images)[-1] not in (1, 3):
        raise ValueError(
            f"train_transform expects images [B, H, W, C] with C in {{1, 3}}, got shape {np.shape(images)}"
        )
    b, h, w, _ = np.shape(images)
    rng = np.random.default_rng([int(seed), int(step), AUG_STREAM])
    boxes = sample_crop_boxes(rng, b, h, w, scale=scale, ratio=ratio)
    flips = (rng.uniform(size=b) < 0.5) if flip else np.zeros(b, bool)
    return crop_resize_flip(images, boxes, flips, preprocessing)
