"""ResNet-18/34/50/101/152 in torchvision's layout (He et al., "Deep Residual Learning for Image
Recognition", CVPR 2016; torchvision's "v1.5": the stride of a bottleneck sits on its 3x3 conv).

Submodules are named exactly like torchvision's (``conv1``, ``bn1``, ``layer3.4.conv2``,
``layer2.0.downsample.0``, ``fc``) so that a torchvision / timm state dict maps onto the Flax
variables by name (see :mod:`parc_jax.models.convert`). BatchNorm: eps 1e-5, torch momentum 0.1
(Flax momentum 0.9). Explicit torch-style padding (not "SAME"), max-pooling pads with -inf.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from parc_jax.models._head import classifier

# torchvision: kaiming_normal_(mode="fan_out", nonlinearity="relu").
conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


def _conv(features, kernel, stride, padding, name, dtype, precision):
    return nn.Conv(
        features,
        (kernel, kernel),
        strides=(stride, stride),
        padding=((padding, padding), (padding, padding)),
        use_bias=False,
        kernel_init=conv_init,
        dtype=dtype,
        precision=precision,
        name=name,
    )


def _bn(name, train, dtype, epsilon=1e-5, momentum=0.9):
    return nn.BatchNorm(use_running_average=not train, momentum=momentum, epsilon=epsilon, dtype=dtype, name=name)


class BasicBlock(nn.Module):
    """Two 3x3 convs; ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``."""

    features: int
    stride: int = 1
    downsample: bool = False
    dtype: Any = None
    precision: Any = None
    expansion = 1

    @nn.compact
    def __call__(self, x, train: bool = False):
        conv = functools.partial(_conv, dtype=self.dtype, precision=self.precision)
        y = conv(self.features, 3, self.stride, 1, "conv1")(x)
        y = nn.relu(_bn("bn1", train, self.dtype)(y))
        y = conv(self.features, 3, 1, 1, "conv2")(y)
        y = _bn("bn2", train, self.dtype)(y)
        if self.downsample:
            x = conv(self.features, 1, self.stride, 0, "downsample.0")(x)
            x = _bn("downsample.1", train, self.dtype)(x)
        return nn.relu(y + x)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand (x4), plus the shortcut."""

    features: int
    stride: int = 1
    downsample: bool = False
    dtype: Any = None
    precision: Any = None
    expansion = 4

    @nn.compact
    def __call__(self, x, train: bool = False):
        conv = functools.partial(_conv, dtype=self.dtype, precision=self.precision)
        y = conv(self.features, 1, 1, 0, "conv1")(x)
        y = nn.relu(_bn("bn1", train, self.dtype)(y))
        y = conv(self.features, 3, self.stride, 1, "conv2")(y)
        y = nn.relu(_bn("bn2", train, self.dtype)(y))
        y = conv(self.features * 4, 1, 1, 0, "conv3")(y)
        y = _bn("bn3", train, self.dtype)(y)
        if self.downsample:
            x = conv(self.features * 4, 1, self.stride, 0, "downsample.0")(x)
            x = _bn("downsample.1", train, self.dtype)(x)
        return nn.relu(y + x)


BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}

# name -> (block, layers)
CONFIGS: dict[str, tuple[str, tuple[int, ...]]] = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
    "resnet152": ("bottleneck", (3, 8, 36, 3)),
}


class ResNet(nn.Module):
    """torchvision ResNet.

    ``out`` holds ``"stem"`` (after the max-pool, stride 4), ``"stage1"`` .. ``"stage4"`` (strides
    4, 8, 16, 32), ``"features"`` (global average pool of stage4, ``[B, 512 * expansion]``).

    Attributes:
      block: ``"basic"`` or ``"bottleneck"``.
      layers: blocks per stage, e.g. ``(3, 4, 6, 3)``.
      num_classes: classifier outputs.
      width: channels of the first stage (64 in torchvision).
      dropout_rate: dropout before ``fc`` in training (0: none, as in torchvision).
      dtype: compute dtype (``None``: inferred from inputs and params).
      precision: conv / matmul precision.
    """

    block: str = "bottleneck"
    layers: Sequence[int] = (3, 4, 6, 3)
    num_classes: int = 1000
    width: int = 64
    dropout_rate: float = 0.0
    dtype: Any = None
    precision: Any = None

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False):
        block_cls = BLOCKS[self.block]
        out = {}
        x = _conv(self.width, 7, 2, 3, "conv1", self.dtype, self.precision)(x)
        x = nn.relu(_bn("bn1", train, self.dtype)(x))
        x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
        out["stem"] = x
        in_ch = self.width
        for i, n in enumerate(self.layers):
            feats = self.width * 2**i
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                down = j == 0 and (stride != 1 or in_ch != feats * block_cls.expansion)
                x = block_cls(feats, stride, down, self.dtype, self.precision, name=f"layer{i + 1}.{j}")(x, train)
                in_ch = feats * block_cls.expansion
            out[f"stage{i + 1}"] = x
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
        )


def depth(block: str, layers: Sequence[int]) -> int:
    """Weight layers on the main path: stem conv + 2 or 3 per block + fc."""
    return 1 + (2 if block == "basic" else 3) * sum(layers) + 1


def feature_dim(block: str, width: int = 64) -> int:
    """Channels of stage4 (the pooled features)."""
    return width * 8 * BLOCKS[block].expansion
