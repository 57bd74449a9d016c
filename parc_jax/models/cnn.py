"""Small, cheap models for low-resolution inputs (28-32 px: MNIST, Fashion-MNIST, digits, CIFAR).

* :class:`SmallCNN`: ``[conv3x3 -> BatchNorm -> ReLU -> maxpool2]`` per width (no pool after the
  last), global average pool, linear classifier.
* :class:`CifarResNet`: the CIFAR ResNet of He et al. (2016, section 4.2): a 3x3 stem, three
  stages of basic blocks at strides 1, 2, 2 (``6n + 2`` layers), global average pool, linear.

Both keep torch-style names (``conv1``, ``bn1``, ``layer1.0.conv1``, ``fc``) so a torch state dict
of the same architecture maps by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from parc_jax.models._head import classifier
from parc_jax.models.resnet import BasicBlock, conv_init

# name -> widths
CNN_CONFIGS: dict[str, tuple[int, ...]] = {
    "cnn_small": (16, 32, 64),
    "cnn_medium": (32, 64, 128),
}
# name -> (blocks per stage, base width)
CIFAR_RESNET_CONFIGS: dict[str, tuple[int, int]] = {
    "resnet_tiny": (1, 16),  # ResNet-8
    "resnet_small": (3, 16),  # ResNet-20
}


class SmallCNN(nn.Module):
    """Plain conv net; ``out`` holds ``"block1"``.. and ``"features"`` ``[B, widths[-1]]``.

    Attributes:
      widths: channels of each conv block.
      num_classes: classifier outputs.
      dropout_rate: dropout before ``fc`` in training.
      dtype: compute dtype (``None``: inferred).
      precision: conv / matmul precision.
    """

    widths: Sequence[int] = (16, 32, 64)
    num_classes: int = 10
    dropout_rate: float = 0.0
    dtype: Any = None
    precision: Any = None

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False):
        out = {}
        for i, w in enumerate(self.widths):
            x = nn.Conv(
                w,
                (3, 3),
                padding=((1, 1), (1, 1)),
                use_bias=False,
                kernel_init=conv_init,
                dtype=self.dtype,
                precision=self.precision,
                name=f"conv{i + 1}",
            )(x)
            x = nn.BatchNorm(
                use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=self.dtype, name=f"bn{i + 1}"
            )(x)
            x = nn.relu(x)
            if i < len(self.widths) - 1:
                x = nn.max_pool(x, (2, 2), strides=(2, 2))
            out[f"block{i + 1}"] = x
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


class CifarResNet(nn.Module):
    """CIFAR-style ResNet-(6n+2); ``out`` holds ``"stem"``, ``"stage1"``..``"stage3"``,
    ``"features"`` ``[B, 4 * width]``.

    Attributes:
      blocks_per_stage: ``n``.
      width: channels of the first stage (16).
      num_classes: classifier outputs.
      dropout_rate: dropout before ``fc`` in training.
      dtype: compute dtype (``None``: inferred).
      precision: conv / matmul precision.
    """

    blocks_per_stage: int = 1
    width: int = 16
    num_classes: int = 10
    dropout_rate: float = 0.0
    dtype: Any = None
    precision: Any = None

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False):
        out = {}
        x = nn.Conv(
            self.width,
            (3, 3),
            padding=((1, 1), (1, 1)),
            use_bias=False,
            kernel_init=conv_init,
            dtype=self.dtype,
            precision=self.precision,
            name="conv1",
        )(x)
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=self.dtype, name="bn1")(x)
        x = nn.relu(x)
        out["stem"] = x
        in_ch = self.width
        for i in range(3):
            feats = self.width * 2**i
            for j in range(self.blocks_per_stage):
                stride = 2 if (i > 0 and j == 0) else 1
                down = j == 0 and (stride != 1 or in_ch != feats)
                x = BasicBlock(feats, stride, down, self.dtype, self.precision, name=f"layer{i + 1}.{j}")(x, train)
                in_ch = feats
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
