"""AlexNet (Krizhevsky, Sutskever, Hinton, NeurIPS 2012) in torchvision's layout (the single-tower
variant of Krizhevsky 2014, "One weird trick").

Submodules are named like torchvision's ``Sequential`` entries (``features.0``, ``features.3``,
``features.6``, ``features.8``, ``features.10``, ``classifier.1``, ``classifier.4``,
``classifier.6``), so a torchvision state dict maps onto the Flax variables by name. The pooled
[6, 6] map is flattened in torch's channel-major order before ``classifier.1``. The features
(``out["features"]``) are the input of the last Linear layer: the ReLU output of ``classifier.4``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from parc_jax.models._head import classifier
from parc_jax.models._pooling import adaptive_avg_pool

# (name, channels, kernel, stride, padding, max-pool after)
CONVS: tuple[tuple[str, int, int, int, int, bool], ...] = (
    ("features.0", 64, 11, 4, 2, True),
    ("features.3", 192, 5, 1, 2, True),
    ("features.6", 384, 3, 1, 1, False),
    ("features.8", 256, 3, 1, 1, False),
    ("features.10", 256, 3, 1, 1, True),
)
HIDDEN = 4096
DEPTH = 8  # 5 convolutions + 3 linear layers


class AlexNet(nn.Module):
    """torchvision AlexNet.

    ``out`` holds ``"conv"`` (the pooled [B, 6, 6, C] map) and ``"features"`` (``[B, hidden]``).

    Attributes:
      num_classes: classifier outputs.
      widths: channels of the five convolutions (torchvision: 64, 192, 384, 256, 256).
      hidden: width of the two hidden linear layers (torchvision: 4096).
      dropout_rate: dropout before ``classifier.1`` and ``classifier.4`` in training (0.5).
      dtype: compute dtype (``None``: inferred from inputs and params).
      precision: conv / matmul precision.
    """

    num_classes: int = 1000
    widths: Sequence[int] = tuple(c[1] for c in CONVS)
    hidden: int = HIDDEN
    dropout_rate: float = 0.5
    dtype: Any = None
    precision: Any = None

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False):
        for (name, _, kernel, stride, padding, pool), width in zip(CONVS, self.widths):
            x = nn.Conv(
                width,
                (kernel, kernel),
                strides=(stride, stride),
                padding=((padding, padding),) * 2,
                dtype=self.dtype,
                precision=self.precision,
                name=name,
            )(x)
            x = nn.relu(x)
            if pool:
                x = nn.max_pool(x, (3, 3), strides=(2, 2))
        x = adaptive_avg_pool(x, (6, 6))
        out = {"conv": x}
        x = jnp.transpose(x, (0, 3, 1, 2)).reshape(x.shape[0], -1)  # torch's flatten order (C, H, W)
        dense = lambda n, name: nn.Dense(n, dtype=self.dtype, precision=self.precision, name=name)  # noqa: E731
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        x = nn.relu(dense(self.hidden, "classifier.1")(x))
        x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
        x = nn.relu(dense(self.hidden, "classifier.4")(x))
        return classifier(
            x, out, num_classes=self.num_classes, name="classifier.6", dtype=self.dtype, precision=self.precision
        )
