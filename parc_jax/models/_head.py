"""The classifier block every model family ends with.

``out["features"]`` is what the estimators score and what fine-tuning puts a new head on: the input
of the final linear layer (PARC's release records the same tensor with a forward hook on it).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax


def classifier(
    features: jax.Array,
    out: dict,
    *,
    num_classes: int,
    name: str,
    train: bool = False,
    dropout_rate: float = 0.0,
    dtype: Any = None,
    precision: Any = None,
    kernel_init: nn.initializers.Initializer = nn.linear.default_kernel_init,
) -> tuple[jax.Array, dict]:
    """Records `features` as ``out["features"]``, then dropout and the linear classifier.

    Called inside a module's ``nn.compact`` method, so the Dense layer's parameters sit under `name`
    in that module (torch-style names such as ``fc`` map checkpoints by name).

    Returns:
      ``(logits [B, num_classes], out)``.
    """
    out["features"] = features
    x = nn.Dropout(dropout_rate, deterministic=not train)(features) if dropout_rate else features
    logits = nn.Dense(num_classes, kernel_init=kernel_init, dtype=dtype, precision=precision, name=name)(x)
    return logits, out
