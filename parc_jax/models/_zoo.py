"""The zoo's public types: eval-time preprocessing, model metadata and the loaded model."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """Eval-time preprocessing of images, in the usual ImageNet style.

    The shorter side is resized (antialiased bilinear) to ``resize_size``, the centre
    ``input_size`` x ``input_size`` square is cropped, grayscale becomes RGB, and each channel is
    normalised as ``(x - mean) / std`` with ``x`` in 0..255 units.

    Attributes:
      input_size: side of the square model input, pixels.
      resize_size: the shorter side is resized to this before the centre crop (>= input_size).
      mean: per-channel mean, 0..255 units.
      std: per-channel standard deviation, 0..255 units.
    """

    input_size: int
    resize_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __post_init__(self):
        if self.input_size < 1 or self.resize_size < self.input_size:
            raise ValueError(
                f"Preprocessing needs 1 <= input_size <= resize_size, got input_size="
                f"{self.input_size}, resize_size={self.resize_size}"
            )
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError("Preprocessing needs 3 means and 3 positive standard deviations")


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """Metadata of a zoo model.

    Attributes:
      name: registry name, e.g. ``"resnet50"``.
      family: ``"resnet"``, ``"efficientnet_lite"``, ``"vit"``, ``"cnn"``, ...
      source_dataset: what the weights were trained on (``"imagenet1k"``; ``"none"`` when
        untrained).
      num_source_classes: number of logits the model outputs (its classifier's size).
      feature_dim: size of ``out["features"]``, the classifier's input.
      num_params: number of trainable parameters (``variables["params"]``).
      depth: weight layers (conv / linear) on the longest input-to-logits path, shortcut
        projections not counted (so ResNet-50 has depth 50).
      preprocessing: eval-time preprocessing the weights expect.
      weights: the checkpoint the parameters came from, or ``"random"``.
    """

    name: str
    family: str
    source_dataset: str
    num_source_classes: int
    feature_dim: int
    num_params: int
    depth: int
    preprocessing: Preprocessing
    weights: str


def resized_shape(height: int, width: int, resize_size: int) -> tuple[int, int]:
    """Shape after torchvision's ``Resize(resize_size)``: the shorter side becomes ``resize_size``, the longer
    ``int(L * resize_size / S)`` (truncated)."""
    if height <= width:
        return resize_size, int(width * resize_size / height)
    return int(height * resize_size / width), resize_size


def crop_offsets(height: int, width: int, spec: Preprocessing) -> tuple[int, int]:
    """``(top, left)`` of the centre ``input_size`` square in the resized image: ``round((n - S) / 2)``."""
    nh, nw = resized_shape(height, width, spec.resize_size)
    return int(round((nh - spec.input_size) / 2.0)), int(round((nw - spec.input_size) / 2.0))


def to_rgb(images: jax.Array) -> jax.Array:
    """``[..., 1]`` grayscale -> ``[..., 3]`` by repetition; RGB passes through."""
    c = images.shape[-1]
    if c == 3:
        return images
    if c == 1:
        return jnp.broadcast_to(images, images.shape[:-1] + (3,))
    raise ValueError(f"images must have 1 or 3 channels, got {c}")


def normalize(images: jax.Array, mean, std) -> jax.Array:
    """``(x - mean) / std`` per channel, ``x`` in 0..255 units; float32 out."""
    return (images.astype(jnp.float32) - jnp.asarray(mean, jnp.float32)) / jnp.asarray(std, jnp.float32)


def resize_center_crop(images: jax.Array, *, resize_size: int, input_size: int) -> jax.Array:
    """torchvision ``Resize(resize_size)`` then ``CenterCrop(input_size)``, antialiased bilinear.

    One ``jax.image.scale_and_translate`` pass computes only the cropped pixels: output pixel ``i`` samples the
    input at ``(i + top + 1/2) * H / nh - 1/2`` with a triangle kernel widened by ``H / nh`` when shrinking.

    Args:
      images: ``[B, H, W, C]`` uint8 or float (0..255 units).
      resize_size: the shorter side is resized to this.
      input_size: side of the centred square kept.

    Returns:
      float32 ``[B, input_size, input_size, C]``.
    """
    b, h, w, c = images.shape
    nh, nw = resized_shape(h, w, resize_size)
    top, left = int(round((nh - input_size) / 2.0)), int(round((nw - input_size) / 2.0))
    x = images.astype(jnp.float32)
    if (nh, nw) == (h, w):
        return x[:, top : top + input_size, left : left + input_size, :]
    scale = jnp.array([nh / h, nw / w], jnp.float32)
    translation = jnp.array([-top, -left], jnp.float32)
    return jax.image.scale_and_translate(
        x, (b, input_size, input_size, c), (1, 2), scale, translation, method="linear", antialias=True
    )


@functools.partial(jax.jit, static_argnames="spec")
def preprocess_images(images: jax.Array, spec: Preprocessing) -> jax.Array:
    """The eval transform: resize, centre crop, grayscale -> RGB, normalise (jitted, one trace per shape).

    ``(crop_S(resize_R(x)) - mean) / std`` with ``R = spec.resize_size``, ``S = spec.input_size`` (torchvision's
    ``Resize(R)`` + ``CenterCrop(S)``, as in the PARC release's test transforms; see :func:`resize_center_crop`).
    Probing and fine-tuning both feed models through this function (``parc_jax.data.eval_transform`` is it).

    Args:
      images: ``[B, H, W, C]`` uint8 (0..255) or float (0..255 units), ``C`` in {1, 3}, any H, W.
      spec: the preprocessing.

    Returns:
      float32 ``[B, S, S, 3]``.
    """
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"preprocess expects images [B, H, W, C] with C in {{1, 3}}, got shape {images.shape}")
    x = resize_center_crop(images, resize_size=spec.resize_size, input_size=spec.input_size)
    return normalize(to_rgb(x), spec.mean, spec.std)


@dataclasses.dataclass
class ZooModel:
    """A Flax model with its variables, preprocessing and metadata.

    Attributes:
      info: metadata (:class:`ModelInfo`).
      module: a ``flax.linen.Module`` with ``__call__(x, *, train=False) -> (logits, out)``, where
        ``out["features"]`` is the pooled classifier input ``[B, feature_dim]`` and ``out`` also
        holds named intermediate layers.
      variables: ``{"params": ..., "batch_stats": ...}`` (``batch_stats`` only with BatchNorm).
    """

    info: ModelInfo
    module: nn.Module
    variables: dict

    def apply(self, variables: Any, images: jax.Array, *, train: bool = False, mutable: Any = False, rngs: Any = None):
        """Runs the model on preprocessed images.

        Args:
          variables: variables like ``self.variables``.
          images: model input ``[B, S, S, 3]`` (the output of :meth:`preprocess`).
          train: training mode (BatchNorm batch statistics, dropout if the module has any).
          mutable: collections to update, e.g. ``["batch_stats"]`` when ``train=True``.
          rngs: PRNG keys for dropout, e.g. ``{"dropout": key}`` (only if the module's dropout
            rate is non-zero and ``train=True``).

        Returns:
          ``(logits, out)``, or ``((logits, out), updates)`` when ``mutable`` is set.
        """
        return self.module.apply(variables, images, train=train, mutable=mutable, rngs=rngs)

    def __call__(self, images: jax.Array) -> tuple[jax.Array, dict]:
        """Eval-mode forward pass with ``self.variables`` on preprocessed images."""
        return self.apply(self.variables, images)

    def preprocess(self, images: jax.Array) -> jax.Array:
        """Eval-time preprocessing (see :func:`preprocess_images`); jittable."""
        return preprocess_images(jnp.asarray(images), self.info.preprocessing)

    @property
    def params(self) -> Any:
        """``variables["params"]``."""
        return self.variables["params"]
