"""Flax model zoo: ResNet (torchvision layout), EfficientNet-Lite, ViT (timm layout) and small
low-resolution CNNs, with pretrained weights read from PyTorch checkpoints without PyTorch.

>>> from parc_jax import models
>>> m = models.load("efficientnet_lite0")            # finds the pip-installed weights
>>> logits, out = m.apply(m.variables, m.preprocess(images))
>>> out["features"].shape                             # [B, m.info.feature_dim]

Every model's ``module(x, train=False)`` returns ``(logits, out)``: ``out["features"]`` is the
classifier's input, and ``out`` holds named intermediate layers.
"""

from parc_jax.models._checkpoint import restore_params, save_params
from parc_jax.models._registry import describe, get_factory, load, names, register
from parc_jax.models._zoo import ModelInfo, Preprocessing, ZooModel, preprocess_images

__all__ = [
    "ModelInfo",
    "Preprocessing",
    "ZooModel",
    "describe",
    "get_factory",
    "load",
    "names",
    "preprocess_images",
    "register",
    "restore_params",
    "save_params",
]
