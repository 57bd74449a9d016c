"""GoogLeNet (Szegedy et al., "Going Deeper with Convolutions", CVPR 2015) in torchvision's layout,
without the auxiliary classifiers (as the PARC release builds it).

Submodules are named like torchvision's (``conv1.conv``, ``conv1.bn``, ``inception4c.branch2.1.bn``,
``inception5b.branch4.1.conv``, ``fc``) so that a torchvision state dict maps onto the Flax variables
by name. As in torchvision: every convolution is ``BasicConv2d`` (conv without bias, BatchNorm with
eps 1e-3, ReLU); the "5x5" branch uses a 3x3 convolution; max-pools use ``ceil_mode=True``; with
``transform_input`` (torchvision's default for its pretrained weights) inputs normalised with the
ImageNet mean / std are re-normalised to (x - 0.5) / 0.5 first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from parc_jax.models._head import classifier
from parc_jax.models._pooling import max_pool_ceil

# name, (1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5", pool projection); a ceil-mode max-pool follows
# inception3b (3x3, stride 2) and inception4e (2x2, stride 2).
BLOCKS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("inception3a", (64, 96, 128, 16, 32, 32)),
    ("inception3b", (128, 128, 192, 32, 96, 64)),
    ("inception4a", (192, 96, 208, 16, 48, 64)),
    ("inception4b", (160, 112, 224, 24, 64, 64)),
    ("inception4c", (128, 128, 256, 24, 64, 64)),
    ("inception4d", (112, 144, 288, 32, 64, 64)),
    ("inception4e", (256, 160, 320, 32, 128, 128)),
    ("inception5a", (256, 160, 320, 32, 128, 128)),
    ("inception5b", (384, 192, 384, 48, 128, 128)),
)
STEM = (64, 64, 192)
DEPTH = 22  # weight layers on the longest path, as the paper counts them
_POOL_AFTER = {"inception3b": (3, 2), "inception4e": (2, 2)}
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision: trunc_normal_(std=0.01, a=-2, b=2) for convolutions and the classifier.
_init = nn.initializers.truncated_normal(0.01)


class BasicConv(nn.Module):
    """``relu(bn(conv(x)))``: torchvision's ``BasicConv2d``."""

    features: int
    kernel: int
    stride: int = 1
    padding: int = 0
    dtype: Any = None
    precision: Any = None

    @nn.compact
    def __call__(self, x, train: bool = False):
        pad = ((self.padding, self.padding), (self.padding, self.padding))
        x = nn.Conv(
            self.features,
            (self.kernel, self.kernel),
            strides=(self.stride, self.stride),
            padding=pad,
            use_bias=False,
            kernel_init=_init,
            dtype=self.dtype,
            precision=self.precision,
            name="conv",
        )(x)
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-3, dtype=self.dtype, name="bn")(x)
        return nn.relu(x)


class Inception(nn.Module):
    """Four branches concatenated on channels: 1x1; 1x1 -> 3x3; 1x1 -> 3x3; 3x3 max-pool -> 1x1."""

    widths: Sequence[int]
    dtype: Any = None
    precision: Any = None

    @nn.compact
    def __call__(self, x, train: bool = False):
        c1, c3r, c3, c5r, c5, pool = self.widths
        conv = lambda f, k, name: BasicConv(
            f,
            k,
            padding=k // 2,
            dtype=self.dtype,  # noqa: E731
            precision=self.precision,
            name=name,
        )
        b1 = conv(c1, 1, "branch1")(x, train)
        b2 = conv(c3, 3, "branch2.1")(conv(c3r, 1, "branch2.0")(x, train), train)
        b3 = conv(c5, 3, "branch3.1")(conv(c5r, 1, "branch3.0")(x, train), train)
        b4 = conv(pool, 1, "branch4.1")(max_pool_ceil(x, 3, 1, 1), train)
        return jnp.concatenate([b1, b2, b3, b4], axis=-1)


class GoogLeNet(nn.Module):
    """torchvision GoogLeNet without auxiliary heads.

    ``out`` holds ``"stem"`` (after conv3 and its max-pool, stride 8), ``"stage3"``, ``"stage4"``,
    ``"stage5"`` (after inception3b / 4e / 5b) and ``"features"`` (global average pool, the input of
    ``fc``, ``[B, 1024]``).

    Attributes:
      num_classes: classifier outputs.
      stem: channels of conv1, conv2, conv3.
      blocks: (name, widths) of the inception blocks, as ``BLOCKS``.
      transform_input: re-normalise ImageNet-normalised inputs to (x - 0.5) / 0.5.
      dropout_rate: dropout before ``fc`` in training (torchvision: 0.2).
      dtype: compute dtype (``None``: inferred from inputs and params).
      precision: conv / matmul precision.
    """

    num_classes: int = 1000
    stem: Sequence[int] = STEM
    blocks: Sequence[tuple[str, Sequence[int]]] = BLOCKS
    transform_input: bool = True
    dropout_rate: float = 0.2
    dtype: Any = None
    precision: Any = None

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False):
        if self.transform_input:
            mean, std = jnp.asarray(_IMAGENET_MEAN), jnp.asarray(_IMAGENET_STD)
            x = x * (std / 0.5) + (mean - 0.5) / 0.5
        out = {}
        conv = lambda f, k, s, p, name: BasicConv(f, k, s, p, self.dtype, self.precision, name=name)  # noqa: E731
        x = max_pool_ceil(conv(self.stem[0], 7, 2, 3, "conv1")(x, train), 3, 2)
        x = conv(self.stem[1], 1, 1, 0, "conv2")(x, train)
        x = max_pool_ceil(conv(self.stem[2], 3, 1, 1, "conv3")(x, train), 3, 2)
        out["stem"] = x
        for name, widths in self.blocks:
            x = Inception(widths, self.dtype, self.precision, name=name)(x, train)
            if name in ("inception3b", "inception4e", "inception5b"):
                out[f"stage{name[len('inception')]}"] = x
            if name in _POOL_AFTER:
                x = max_pool_ceil(x, *_POOL_AFTER[name])
        x = jnp.mean(x, axis=(1, 2))
        return classifier(
            x,
            out,
            num_classes=self.num_classes,
            name="fc",
            train=train,
            dropout_rate=self.dropout_rate,
            dtype=self.dtype,
            precision=self.precision,
            kernel_init=_init,
        )


def feature_dim(blocks: Sequence[tuple[str, Sequence[int]]] = BLOCKS) -> int:
    """Channels of the last inception block (the pooled features)."""
    c1, _, c3, _, c5, pool = blocks[-1][1]
    return c1 + c3 + c5 + pool
