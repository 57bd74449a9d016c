"""A backbone with a new linear classification head, for fine-tuning and linear probing.

The backbone is any Flax linen module whose ``__call__(x, *, train)`` returns ``(logits, out)``
with ``out["features"]`` the input of its own final classifier (the zoo contract). Fine-tuning
replaces that classifier by a new one, ``logits = features @ W + b`` with ``W`` [D, C] and ``b``
[C] initialised to zero (as in big_vision's fine-tuning configs), C the number of target classes.

Parameters are kept in two trees so the optimizer only ever sees what it trains:
``trainable`` (``{"backbone", "head"}`` in full fine-tuning, ``{"head"}`` in a linear probe,
``{"backbone"}`` when training from scratch with the model's own head) and ``frozen`` (the
backbone of a linear probe, else empty).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

PyTree = Any


@dataclasses.dataclass(frozen=True)
class Network:
    """How to run a backbone, optionally under a new head.

    Attributes:
      module: the Flax backbone; ``module.apply(variables, x, train=...) -> (logits, out)``.
      preprocess: jittable ``uint8 [B, H, W, C] -> float32 [B, S, S, 3]`` model input (applied
        to uint8 batches only: float batches are taken to be model input already, e.g. the
        output of the training augmentation).
      num_classes: target classes C.
      new_head: put a new Dense(C) on ``out["features"]`` (False: the module's own logits are
        the prediction, e.g. a model built from scratch with C outputs).
      linear_probe: backbone frozen and run with ``train=False`` (BatchNorm uses its running
        statistics, which stay unchanged); only the head is trained.
      compute_dtype: dtype of the forward/backward pass; the master weights stay float32.
    """

    module: nn.Module
    preprocess: Callable[[jax.Array], jax.Array]
    num_classes: int
    new_head: bool = True
    linear_probe: bool = False
    compute_dtype: Any = jnp.float32

    def split_params(self, backbone_params: PyTree, head_params: PyTree | None) -> tuple[dict, dict]:
        """Splits the parameters into ``(trainable, frozen)`` trees (see the module docstring)."""
        if not self.new_head:
            return {"backbone": backbone_params}, {}
        if self.linear_probe:
            return {"head": head_params}, {"backbone": backbone_params}
        return {"backbone": backbone_params, "head": head_params}, {}

    def init_head(self, feature_dim: int) -> dict:
        """A zero-initialised head: kernel [D, C] and bias [C], float32."""
        return {
            "kernel": jnp.zeros((feature_dim, self.num_classes), jnp.float32),
            "bias": jnp.zeros((self.num_classes,), jnp.float32),
        }

    def feature_dim(self, variables: PyTree, input_size: int) -> int:
        """The width D of ``out["features"]`` for ``[1, S, S, 3]`` model input (shape evaluation)."""

        def features(x):
            _, out = self.module.apply(variables, x, train=False)
            return out["features"]

        x = jax.ShapeDtypeStruct((1, input_size, input_size, 3), jnp.float32)
        shape = jax.eval_shape(features, x).shape
        if len(shape) != 2:
            raise ValueError(f"out['features'] has shape {shape}; the new head needs [B, D] features")
        return int(shape[-1])

    def model_input(self, images: jax.Array) -> jax.Array:
        """``preprocess(images)`` for uint8 images; float images pass through unchanged."""
        return self.preprocess(images) if images.dtype == jnp.uint8 else images

    def apply(
        self,
        trainable: dict,
        frozen: dict,
        batch_stats: PyTree,
        images: jax.Array,
        *,
        train: bool,
        rng: jax.Array | None = None,
    ) -> tuple[jax.Array, PyTree]:
        """Logits for uint8 images, and the batch statistics after this batch.

        Args:
          trainable, frozen: the two parameter trees from :meth:`split_params`.
          batch_stats: BatchNorm running statistics of the backbone (``{}`` if it has none).
          images: uint8 ``[B, H, W, C]`` raw images, or float32 ``[B, S, S, 3]`` model input.
          train: training mode: BatchNorm normalises with the batch statistics and updates its
            running averages, dropout is active (backbone only, and never in a linear probe).
          rng: PRNG key for dropout in training mode.

        Returns:
          ``(logits [B, C] float32, new batch_stats)``; batch_stats are unchanged in eval mode.
        """
        params = {**frozen, **trainable}
        backbone = params["backbone"]
        dtype = self.compute_dtype
        if dtype != jnp.float32:
            backbone = jax.tree.map(lambda p: p.astype(dtype) if jnp.issubdtype(p.dtype, jnp.floating) else p, backbone)
        x = self.model_input(images).astype(dtype)
        variables = {"params": backbone}
        if batch_stats:
            variables["batch_stats"] = batch_stats
        backbone_train = train and not self.linear_probe
        if backbone_train:
            rngs = {"dropout": rng} if rng is not None else {}
            (logits, out), updates = self.module.apply(variables, x, train=True, mutable=["batch_stats"], rngs=rngs)
            new_stats = updates.get("batch_stats", batch_stats)
            new_stats = jax.tree.map(lambda new, old: new.astype(old.dtype), new_stats, batch_stats)
        else:
            logits, out = self.module.apply(variables, x, train=False)
            new_stats = batch_stats
        if self.new_head:
            features = out["features"]
            if self.linear_probe:
                features = jax.lax.stop_gradient(features)
            head = params["head"]
            logits = features @ head["kernel"].astype(dtype) + head["bias"].astype(dtype)
        return logits.astype(jnp.float32), new_stats
