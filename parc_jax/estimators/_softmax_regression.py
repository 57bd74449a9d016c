"""L2-regularised multinomial logistic regression, solved to convergence by L-BFGS: the linear heads of
PACTran-Gaussian and the linear-probe baselines.

The objective over W [D, C] and an unpenalised bias b [C], with sample weights w_i (0 drops a row),

    L(W, b) = (1 / sum_i w_i) sum_i w_i CE(x_i W + b, y_i) + (l2 / 2) ||W||_F^2,

depends on the features only through x W, and its minimiser W lies in the row space of the training
features. So it is solved in k = min(rows, D) coordinates F with F F^T = X X^T (`training_coordinates`:
F = U diag(s) from the eigendecomposition of the Gram matrix when rows <= D, else X itself): W = V B
gives x W = F B and ||W|| = ||B||, the same minimum, at (D / k) times fewer flops per step. Other rows
(validation, test) map to the same coordinates through their products with the training rows.

The coordinates are scaled by the diagonal of the Hessian at p = 1/C (near I at the start for the
orthogonal columns U diag(s)), and L-BFGS (Nocedal & Wright 2006, Alg. 7.4-7.5) runs in a
`lax.while_loop` until the gradient norm falls below TOLERANCE times its initial value, no step
decreases L, or `max_steps` steps have run: jittable, and batched under `vmap` (the loop then runs
until every model of the batch has stopped). The logits are carried along: along a direction d they
move by t (F d), so the line search (safeguarded Newton on the convex phi(t) = L(V + t d), which needs
only the logits) costs no product with F, and a step costs two products, F d and F^T (P - Y). The
split logistic regression (`_split`), PACTran-Gaussian and the linear probes share this solver.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from parc_jax.estimators import _stats

MAX_STEPS = 100
TOLERANCE = 1e-5
MASKED_LOGIT = -1e30
MEMORY = 6  # L-BFGS curvature pairs
MAX_HALVINGS = 30
NEWTON_LINE_STEPS = 3
ARMIJO = 1e-4


class Fit(NamedTuple):
    """A solved head: weights in the training coordinates, bias, objective value, training logits."""

    weights: jax.Array  # [k, C]
    bias: jax.Array  # [C]
    loss: jax.Array  # scalar, L at the solution
    logits: jax.Array  # [rows, C], masked classes at MASKED_LOGIT
    steps: jax.Array  # L-BFGS steps taken


class _Problem(NamedTuple):
    """L in the solver's variables V [k + 1, C] (the rows of W scaled, then b scaled):
    logits = design V, L(V) = sum_i w_i CE(logits_i, y_i) + 1/2 sum_j penalty_j ||V_j||^2."""

    design: jax.Array  # [rows, k + 1]
    design_t: jax.Array  # its transpose, stored: XLA:CPU multiplies a transposed operand ~3x slower
    row_weights: jax.Array  # [rows], summing to 1
    one_hot: jax.Array  # [rows, C]
    penalty: jax.Array  # [k + 1, 1]
    class_mask: jax.Array | None

    def log_probabilities(self, logits):
        return jax.nn.log_softmax(_masked(logits, self.class_mask), axis=1)

    def value(self, log_p, v):
        """L from the log-softmax of the logits at v."""
        cross_entropy = -jnp.sum(self.row_weights * jnp.sum(self.one_hot * log_p, axis=1))
        return cross_entropy + 0.5 * jnp.sum(self.penalty * v * v)

    def loss(self, logits, v):
        return self.value(self.log_probabilities(logits), v)

    def probabilities(self, logits):
        return jax.nn.softmax(_masked(logits, self.class_mask), axis=1)

    def gradient(self, probs, v):
        residual = self.row_weights[:, None] * (probs - self.one_hot)
        return _stats.matmul(self.design_t, residual) + self.penalty * v


class _State(NamedTuple):
    step: jax.Array
    v: jax.Array  # [k + 1, C]
    logits: jax.Array  # design @ v, carried along the steps
    probs: jax.Array  # their softmax
    value: jax.Array
    grad: jax.Array
    s: jax.Array  # [MEMORY, k + 1, C] the last steps v_{t+1} - v_t (ring buffer, newest at `head`)
    y: jax.Array  # [MEMORY, k + 1, C] the matching gradient differences
    rho: jax.Array  # [MEMORY] 1 / (s . y), 0 for an empty slot
    head: jax.Array
    progressed: jax.Array


def _direction(state: _State) -> jax.Array:
    """-H grad by the L-BFGS two-loop recursion (Nocedal & Wright, Alg. 7.4), H_0 = (s.y / y.y) I from
    the newest pair (I before the first step: the variables are scaled so that the Hessian at V = 0 is
    near I)."""
    slots = [(state.head - i) % MEMORY for i in range(MEMORY)]  # newest first
    q = state.grad
    alphas = []
    for slot in slots:
        alpha = state.rho[slot] * jnp.vdot(state.s[slot], q)
        q = q - alpha * state.y[slot]
        alphas.append(alpha)
    newest_y = state.y[state.head]
    y_norm = jnp.vdot(newest_y, newest_y)
    gamma = jnp.where(
        state.rho[state.head] > 0, 1.0 / (state.rho[state.head] * jnp.where(y_norm > 0, y_norm, 1.0)), 1.0
    )
    r = gamma * q
    for slot, alpha in zip(reversed(slots), reversed(alphas)):
        beta = state.rho[slot] * jnp.vdot(state.y[slot], r)
        r = r + (alpha - beta) * state.s[slot]
    return -r


def _derivatives_along(problem: _Problem, probs, v, direction, logits_direction):
    """phi'(t) and phi''(t) of phi(t) = L(V + t d) at the point with softmax `probs` and variables v:

    phi'(t)  = sum_i w_i (p_i - y_i) . dz_i + sum_j penalty_j v_j . d_j
    phi''(t) = sum_i w_i (p_i . dz_i^2 - (p_i . dz_i)^2) + sum_j penalty_j ||d_j||^2      (dz = design d).
    """
    moved = jnp.sum(probs * logits_direction, axis=1)
    first = jnp.sum(problem.row_weights * (moved - jnp.sum(problem.one_hot * logits_direction, axis=1)))
    second = jnp.sum(problem.row_weights * (jnp.sum(probs * logits_direction**2, axis=1) - moved**2))
    return first + jnp.sum(problem.penalty * v * direction), second + jnp.sum(problem.penalty * direction**2)


def _along(problem: _Problem, state: _State, direction, logits_direction, t):
    """(phi(t), phi'(t), phi''(t)), from the logits alone: no product with the design."""
    v = state.v + t * direction
    log_p = problem.log_probabilities(state.logits + t * logits_direction)
    return problem.value(log_p, v), *_derivatives_along(problem, jnp.exp(log_p), v, direction, logits_direction)


def _newton_guess(t, first, second, lo, hi):
    """The Newton step t - phi'/phi'' if inside the bracket (lo, hi), else its midpoint (twice t while
    no point with phi' > 0 is known)."""
    guess = t - first / jnp.maximum(second, jnp.finfo(jnp.float32).tiny)
    fallback = jnp.where(jnp.isfinite(hi), (lo + hi) / 2, 2 * jnp.maximum(t, 1.0))
    return jnp.where((guess > lo) & (guess < hi), guess, fallback)


def _lbfgs_step(problem: _Problem, state: _State) -> _State:
    """One L-BFGS step along d = -H grad. The step length t comes from NEWTON_LINE_STEPS safeguarded
    Newton steps on the convex phi(t) = L(V + t d) from t = 0 (each kept inside the bracket [lo, hi] of
    the points with phi' < 0 and phi' > 0 seen so far), the best point seen kept, then halved until the
    Armijo condition holds. The logits move by t (design d), so the line search costs no product with
    the design: a step costs two (design d and design^T residual)."""
    direction = _direction(state)
    logits_direction = _stats.matmul(problem.design, direction)
    slope = jnp.vdot(state.grad, direction)
    slack = 8 * jnp.finfo(jnp.float32).eps * jnp.abs(state.value)  # float32 rounding of the objective itself
    zero, infinity = jnp.float32(0.0), jnp.float32(jnp.inf)
    first, second = _derivatives_along(problem, state.probs, state.v, direction, logits_direction)

    def newton(carry, _):
        t, lo, hi, best_t, best_value = carry
        value, first, second = _along(problem, state, direction, logits_direction, t)
        better = value < best_value
        best_t, best_value = jnp.where(better, t, best_t), jnp.where(better, value, best_value)
        lo, hi = jnp.where(first < 0, t, lo), jnp.where(first < 0, hi, t)
        return (_newton_guess(t, first, second, lo, hi), lo, hi, best_t, best_value), None

    start = (_newton_guess(zero, first, second, zero, infinity), zero, infinity, zero, infinity)
    (t, _, _, best_t, best_value), _ = jax.lax.scan(newton, start, None, length=NEWTON_LINE_STEPS - 1)
    # Halving starts from the best evaluated point, or, when none decreased phi, from the last guess
    # (entered as twice it at an infinite value: the loop's first halving evaluates it).
    decreased = best_value < state.value
    t, value = jnp.where(decreased, best_t, 2 * t), jnp.where(decreased, best_value, infinity)

    def keep_halving(carry):
        halvings, t, value = carry
        return (halvings < MAX_HALVINGS) & (value > state.value + ARMIJO * t * slope + slack)

    def halve(carry):
        halvings, t, _ = carry
        return halvings + 1, t / 2, _along(problem, state, direction, logits_direction, t / 2)[0]

    _, t, value = jax.lax.while_loop(keep_halving, halve, (0, t, value))
    progressed = (value < state.value) & (slope < 0)
    t = jnp.where(progressed, t, 0.0)
    v = state.v + t * direction
    logits = state.logits + t * logits_direction
    probs = problem.probabilities(logits)
    grad = problem.gradient(probs, v)
    s, y = t * direction, grad - state.grad
    curvature = jnp.vdot(s, y)
    keep = curvature > 1e-10 * jnp.sqrt(jnp.vdot(s, s) * jnp.vdot(y, y))  # convex: holds unless the step is tiny
    head = jnp.where(keep, (state.head + 1) % MEMORY, state.head)  # unchanged: the slot is rewritten as it was
    return _State(
        step=state.step + 1,
        v=v,
        logits=logits,
        probs=probs,
        value=jnp.where(progressed, value, state.value),
        grad=grad,
        s=state.s.at[head].set(jnp.where(keep, s, state.s[head])),
        y=state.y.at[head].set(jnp.where(keep, y, state.y[head])),
        rho=state.rho.at[head].set(jnp.where(keep, 1.0 / jnp.where(keep, curvature, 1.0), state.rho[head])),
        head=head,
        progressed=progressed,
    )


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


def _masked(logits, class_mask):
    return logits if class_mask is None else jnp.where(class_mask, logits, MASKED_LOGIT)


def masked_logits(features, weights, bias, class_mask):
    return _masked(_stats.matmul(features, weights) + bias, class_mask)


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
    rows, k = features.shape
    row_weights = sample_weights / jnp.sum(sample_weights)
    column_energy = _stats.matmul(row_weights, features**2)  # [k]
    scale = jnp.append(jax.lax.rsqrt(column_energy / num_classes + l2), jnp.sqrt(jnp.float32(num_classes)))
    design = jnp.concatenate([features, jnp.ones((rows, 1), features.dtype)], axis=1) * scale
    problem = _Problem(
        design=design,
        design_t=design.T,
        row_weights=row_weights,
        one_hot=jax.nn.one_hot(labels, num_classes, dtype=jnp.float32),
        penalty=(jnp.append(jnp.full((k,), l2, jnp.float32), 0.0) * scale**2)[:, None],
        class_mask=class_mask,
    )
    v = jnp.zeros((k + 1, num_classes), jnp.float32)
    logits = jnp.zeros((rows, num_classes), jnp.float32)
    probs = problem.probabilities(logits)
    grad = problem.gradient(probs, v)
    buffer = jnp.zeros((MEMORY, k + 1, num_classes), jnp.float32)
    start = _State(
        step=jnp.int32(0),
        v=v,
        logits=logits,
        probs=probs,
        value=problem.loss(logits, v),
        grad=grad,
        s=buffer,
        y=buffer,
        rho=jnp.zeros((MEMORY,), jnp.float32),
        head=jnp.int32(0),
        progressed=jnp.bool_(True),
    )
    threshold = TOLERANCE * jnp.sqrt(jnp.vdot(grad, grad))

    def keep_going(state):
        return (state.step < max_steps) & state.progressed & (jnp.sqrt(jnp.vdot(state.grad, state.grad)) > threshold)

    final = jax.lax.while_loop(keep_going, functools.partial(_lbfgs_step, problem), start)
    v = final.v
    logits = _stats.matmul(problem.design, v)  # afresh: the carried logits drift by rounding
    weights, bias = v[:k] * scale[:k, None], v[k] * scale[k]
    return Fit(weights, bias, problem.loss(logits, v), _masked(logits, class_mask), final.step)
