"""Optimizers and learning-rate schedule for fine-tuning.

Schedule: linear warmup from 0 to the peak learning rate over ``warmup`` steps, then cosine decay
to 0 at the last step (Loshchilov & Hutter, "SGDR", ICLR 2017; Goyal et al. 2017 for the warmup):

    lr(t) = peak * t / warmup                                          for t < warmup
    lr(t) = peak * (1 + cos(pi * (t - warmup) / (T - warmup))) / 2     for warmup <= t <= T

Weight decay lambda applies to kernels only (ndim > 1), not to biases and normalisation scales.
SGD uses the coupled form of ``torch.optim.SGD`` (g <- g + lambda * w before momentum);
AdamW the decoupled form (w <- w - lr * lambda * w; Loshchilov & Hutter, ICLR 2019).
"""

from __future__ import annotations

import jax
import ml_collections
import optax


def decay_mask(params):
    """True for the parameters that get weight decay: those with ndim > 1 (kernels)."""
    return jax.tree.map(lambda p: p.ndim > 1, params)


def unit_schedule(total_steps: int, warmup_fraction: float) -> optax.Schedule:
    """The schedule above for a peak of 1."""
    warmup = int(round(warmup_fraction * total_steps))
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=1.0, warmup_steps=warmup, decay_steps=max(total_steps, warmup + 1), end_value=0.0
    )


def make_schedule(peak_lr: float, total_steps: int, warmup_fraction: float) -> optax.Schedule:
    """Warmup + cosine schedule over ``total_steps`` steps (see the module docstring)."""
    unit = unit_schedule(total_steps, warmup_fraction)
    return lambda count: peak_lr * unit(count)


def make_optimizer(
    config: ml_collections.ConfigDict, learning_rate: float, weight_decay: float, total_steps: int
) -> optax.GradientTransformation:
    """The optimizer of ``config.optimizer`` with the schedule and weight decay above.

    The peak learning rate and the weight decay are injected hyperparameters (values in the
    optimizer state, not constants of the compiled program), so every point of a grid runs the
    same XLA program: with a persistent compilation cache it is compiled once.

    Args:
      config: reads ``optimizer``, ``momentum``, ``nesterov``, ``warmup_fraction``,
        ``grad_clip_norm`` (0: no clipping).
      learning_rate: peak learning rate.
      weight_decay: lambda.
      total_steps: length of the schedule.
    """
    unit = unit_schedule(total_steps, config.warmup_fraction)
    decay = optax.inject_hyperparams(optax.add_decayed_weights, static_args=("mask",))(
        weight_decay=float(weight_decay), mask=decay_mask
    )
    peak = optax.inject_hyperparams(optax.scale)(step_size=float(learning_rate))
    parts = []
    if config.grad_clip_norm > 0:
        parts.append(optax.clip_by_global_norm(config.grad_clip_norm))
    if config.optimizer == "sgd":
        # torch.optim.SGD: g + lambda w, momentum, times -lr(t).
        parts += [decay, optax.sgd(unit, momentum=config.momentum or None, nesterov=config.nesterov)]
    elif config.optimizer == "adamw":
        # optax.adamw: Adam direction + lambda w, times -lr(t).
        parts += [optax.scale_by_adam(), decay, optax.scale_by_learning_rate(unit)]
    else:
        raise ValueError(f"unknown optimizer {config.optimizer!r}; use 'sgd' or 'adamw'")
    parts.append(peak)
    return optax.chain(*parts)
