"""L2-regularised multinomial logistic regression, solved to convergence by L-BFGS: the linear heads of
PACTran-Gaussian and the linear-probe baselines.

The objective over W [D, C] and an unpenalised bias b [C], with sample weights w_i (0 drops a row),

    L(W, b) = (1 / sum_i w_i) sum_i w_i CE(x_i W + b, y_i) + (l2 / 2) ||W||_F^2,

depends on the features only through x W, and its minimiser W lies in the row space of the training
features. So it is solved in k = min(rows, D) coordinates F with F F^T = X X^T (`training_coordinates`:
F = U diag(s) from the eigendecomposition of the Gram matrix when rows <= D, else X itself): W = V B
gives x W = F B and ||W|| = ||B||, the same minimum, at (D / k) times fewer flops per step. Other rows
(validation, test) map to the same coordinates through their products with the training rows.

The coordinates are preconditioned by the diagonal of the Hessian at p = 1/C, and optax's L-BFGS
(zoom line search) runs in a `lax.while_loop` until the gradient norm falls below TOLERANCE times its
initial value or `max_steps` steps have run: jittable, and batched under `vmap` (the loop then runs
until every model of the batch has stopped).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from parc_jax.estimators import _stats

MAX_STEPS = 100
TOLERANCE = 1e-5
MASKED_LOGIT = -1e30


class Fit(NamedTuple):
    """A solved head: weights in the training coordinates, bias, objective value, training logits."""

    weights: jax.Array  # [k, C]
    bias: jax.Array  # [C]
    loss: jax.Array  # scalar, L at the solution
    logits: jax.Array  # [rows, C], masked classes at MASKED_LOGIT


def check_max_steps(max_steps) -> int:
    """MAX_STEPS for None, else an int >= 1."""
    if max_steps is None:
        return MAX_STEPS
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps must be None or an int >= 1, got {max_steps!r}")
    return max_steps


def training_coordinates(train: jax.Array, others: jax.Array | None = None):
    """Coordinates F [rows, k] of the training rows, k = min(rows, D), with F F^T = train train^T, and
    those of `others` [m, D] (F_o F^T = others train^T), or None.

    For rows <= D: F = U diag(s) from the eigenvectors U and eigenvalues s^2 of the Gram matrix, and
    F_o = (others train^T) U / s on the resolved directions (s^2 > 1e-7 s_max^2; 0 on the others).
    """
    rows, d = train.shape
    if rows > d:
        return train, others
    u, sigma = _stats.gram_eigh(train)
    coordinates = u * jnp.sqrt(sigma)
    if others is None:
        return coordinates, None
    resolved = sigma > 1e-7 * sigma[0]
    inverse = jnp.where(resolved, jax.lax.rsqrt(jnp.where(resolved, sigma, 1.0)), 0.0)
    return coordinates, _stats.matmul(_stats.matmul(others, train.T), u) * inverse


def masked_logits(features, weights, bias, class_mask):
    logits = _stats.matmul(features, weights) + bias
    return logits if class_mask is None else jnp.where(class_mask, logits, MASKED_LOGIT)


def fit(
    features: jax.Array,
    labels: jax.Array,
    sample_weights: jax.Array,
    *,
    num_classes: int,
    l2: float,
    max_steps: int = MAX_STEPS,
    class_mask: jax.Array | None = None,
) -> Fit:
    """Minimise L(W, b) (module docstring) over W [k, C], b [C] for features [rows, k].

    Classes outside `class_mask` [C] (bool) are left out of the softmax (their logits are MASKED_LOGIT).
    """
    total = jnp.sum(sample_weights)
    one_hot = jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)
    column_energy = jnp.sum(sample_weights[:, None] * features**2, axis=0) / total  # [k]
    scale_w = jax.lax.rsqrt(column_energy / num_classes + l2)[:, None]  # W = scale_w * V
    scale_b = jnp.sqrt(jnp.float32(num_classes))

    def loss_of(params):
        v, c = params
        w, b = v * scale_w, c * scale_b
        log_p = jax.nn.log_softmax(masked_logits(features, w, b, class_mask), axis=1)
        cross_entropy = -jnp.sum(sample_weights * jnp.sum(one_hot * log_p, axis=1)) / total
        return cross_entropy + 0.5 * l2 * jnp.sum(w * w)

    # Imported here: optax is only needed by the probe estimators, not on the path of every ranking.
    import optax  # pylint: disable=import-outside-toplevel
    import optax.tree_utils as otu  # pylint: disable=import-outside-toplevel

    solver = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(loss_of)
    start = (jnp.zeros((features.shape[1], num_classes), jnp.float32), jnp.zeros((num_classes,), jnp.float32))
    initial_norm = otu.tree_norm(jax.grad(loss_of)(start))

    def step(carry):
        params, state = carry
        value, grad = value_and_grad(params, state=state)
        updates, state = solver.update(grad, state, params, value=value, grad=grad, value_fn=loss_of)
        return optax.apply_updates(params, updates), state

    def keep_going(carry):
        _, state = carry
        count = otu.tree_get(state, "count")
        grad_norm = otu.tree_norm(otu.tree_get(state, "grad"))
        return (count == 0) | ((count < max_steps) & (grad_norm > TOLERANCE * initial_norm))

    params, _ = jax.lax.while_loop(keep_going, step, (start, solver.init(start)))
    weights, bias = params[0] * scale_w, params[1] * scale_b
    return Fit(weights, bias, loss_of(params), masked_logits(features, weights, bias, class_mask))
