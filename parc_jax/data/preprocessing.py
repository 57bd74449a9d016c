"""The eval transform (resize, centre crop, grayscale -> RGB, normalise) and its host-side first step.

The transforms take the four numbers of a zoo model's preprocessing metadata (``input_size``,
``resize_size``, ``mean``, ``std``; mean and std per channel in 0..255 units), either as any object
with those attributes (e.g. ``parc_jax.models``' ``Preprocessing``) or explicitly.

The eval transform is :func:`parc_jax.models.preprocess_images`, torchvision's ``Resize(R)`` +
``CenterCrop(S)`` (``R = resize_size``, ``S = input_size``) followed by ``(x - mean) / std``, run on
the device over batches of one image shape. Probing and fine-tuning both use it.

Images of varying sizes cannot be batched as they are, and one compiled program per image size would
cost seconds each. :func:`square_for_crop` therefore resamples every such image on the host (PIL's
antialiased bilinear, the same triangle filter) to the ``R x R`` square of its resized image whose
centre ``S x S`` crop is the eval crop: the eval transform maps that square (``R`` already the shorter
side, nothing to resample) to exactly the crop of the full image, so every batch of a dataset has one
shape, ``[B, R, R, C]``, and the device compiles one program. The host resampling rounds to uint8,
within one grey level of the device's float result.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from parc_jax.models import Preprocessing, preprocess_images
from parc_jax.models._zoo import crop_offsets, normalize, resize_center_crop, resized_shape, to_rgb

__all__ = [
    "PreprocessingLike",
    "as_preprocessing",
    "as_spec",
    "eval_transform",
    "normalize",
    "resize_center_crop",
    "resized_shape",
    "square_for_crop",
    "to_rgb",
]


class PreprocessingLike(Protocol):
    """What the transforms need from a model's preprocessing metadata."""

    input_size: int
    resize_size: int
    mean: Sequence[float]
    std: Sequence[float]


def as_preprocessing(preprocessing: PreprocessingLike) -> Preprocessing:
    """``preprocessing`` as a (hashable, validated) :class:`parc_jax.models.Preprocessing`.

    Raises:
      ValueError: a field is missing, sizes out of order, or not 3 means / 3 positive stds.
    """
    if isinstance(preprocessing, Preprocessing):
        return preprocessing
    try:
        return Preprocessing(
            int(preprocessing.input_size),
            int(preprocessing.resize_size),
            tuple(float(m) for m in preprocessing.mean),
            tuple(float(s) for s in preprocessing.std),
        )
    except AttributeError as e:
        raise ValueError(
            f"preprocessing needs input_size, resize_size, mean and std; got {type(preprocessing).__name__}"
        ) from e


def as_spec(preprocessing: PreprocessingLike) -> tuple[int, int, tuple[float, ...], tuple[float, ...]]:
    """``(input_size, resize_size, mean, std)`` of ``preprocessing`` as a hashable, validated tuple."""
    p = as_preprocessing(preprocessing)
    return p.input_size, p.resize_size, tuple(p.mean), tuple(p.std)


def eval_transform(images: jax.typing.ArrayLike, preprocessing: PreprocessingLike) -> jax.Array:
    """Resize + centre crop + grayscale->RGB + normalise: :func:`parc_jax.models.preprocess_images`.

    Args:
      images: ``[B, H, W, C]``, ``C`` in {1, 3}, uint8 or float in 0..255 units.
      preprocessing: ``input_size``, ``resize_size``, ``mean``, ``std`` (0..255 units).

    Returns:
      float32 ``[B, S, S, 3]``, ``S = preprocessing.input_size``.
    """
    if np.ndim(images) != 4 or np.shape(images)[-1] not in (1, 3):
        raise ValueError(f"eval_transform expects images [B, H, W, C] with C in {{1, 3}}, got shape {np.shape(images)}")
    return preprocess_images(jnp.asarray(images), as_preprocessing(preprocessing))


def square_for_crop(image: Image.Image | np.ndarray, preprocessing: PreprocessingLike) -> np.ndarray:
    """The ``R x R`` square of the resized ``image`` whose centre ``S x S`` crop is the eval crop.

    The image is resized (PIL, antialiased bilinear) so that its shorter side is ``R = resize_size``
    (:func:`resized_shape`), and the square kept starts at ``(top - c, left - c)`` with ``(top, left)``
    the eval crop's offsets (:func:`parc_jax.models._zoo.crop_offsets`) and ``c = round((R - S) / 2)``
    the offset of the centre crop of an ``R x R`` image; only the square's pixels are computed.

    Args:
      image: a PIL image (mode ``"L"`` or ``"RGB"``) or uint8 ``[H, W, C]``, ``C`` in {1, 3}.
      preprocessing: the model's preprocessing.

    Returns:
      uint8 ``[R, R, C]``.
    """
    spec = as_preprocessing(preprocessing)
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[-1] not in (1, 3):
            raise ValueError(f"images must be [H, W, C] with C in {{1, 3}}, got shape {image.shape}")
        image = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    width, height = image.size
    r = spec.resize_size
    nh, nw = resized_shape(height, width, r)
    top, left = crop_offsets(height, width, spec)
    c = int(round((r - spec.input_size) / 2.0))
    top, left = min(max(top - c, 0), nh - r), min(max(left - c, 0), nw - r)
    sy, sx = height / nh, width / nw
    box = (left * sx, top * sy, (left + r) * sx, (top + r) * sy)
    out = np.asarray(image.resize((r, r), Image.Resampling.BILINEAR, box=box, reducing_gap=None), np.uint8)
    return out[..., None] if out.ndim == 2 else out
