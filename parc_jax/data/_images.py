"""Decoding stored images on the host, without TensorFlow: any size, any colour mode, 1 or 3 channels out.

TFDS's own NumPy decoding (PIL) keeps a JPEG's or PNG's colour mode: CMYK and RGBA images come out
with 4 channels, palette PNGs as palette indices. Datasets read here decode their encoded images
themselves (the data source skips TFDS's decoding) and convert every image with PIL to grayscale
(datasets whose images have 1 channel) or RGB (all others: CMYK, RGBA, palette, grayscale and
16-bit images alike), so a model always gets 1 or 3 channels of uint8.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

# PIL's mode for each number of output channels.
_MODES = {1: "L", 3: "RGB"}


def output_channels(stored_channels: int | None) -> int:
    """Channels a model sees for images stored with ``stored_channels``: 1 stays 1, all others 3."""
    return 1 if stored_channels == 1 else 3


def decode(value: Any, channels: int) -> Image.Image | np.ndarray:
    """A stored image as a PIL image of mode ``"L"``/``"RGB"`` (encoded bytes) or uint8 array (tensors).

    Args:
      value: encoded image bytes (JPEG, PNG, ... as TFDS stores ``Image`` features), or an already
        decoded uint8 ``[H, W, C]`` array (``Tensor`` features).
      channels: 1 or 3 (see :func:`output_channels`).

    Raises:
      ValueError: the bytes are not an image PIL can read.
    """
    if isinstance(value, np.ndarray) and value.dtype != object:
        return value
    try:
        image = Image.open(io.BytesIO(bytes(value)))
        image.load()
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot decode a stored image ({len(bytes(value))} bytes): {e}") from e
    mode = _MODES[channels]
    if image.mode == mode:
        return image
    if image.mode.startswith("I;16"):  # 16-bit grayscale: scale to 8 bits
        image = Image.fromarray((np.asarray(image, np.float64) / 257.0).clip(0, 255).astype(np.uint8))
    return image.convert(mode)


def to_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """uint8 ``[H, W, C]`` of a decoded image."""
    array = np.asarray(image, np.uint8)
    return array[..., None] if array.ndim == 2 else array
