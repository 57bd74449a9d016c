"""Multinomial logistic regression solved to convergence: preconditioned Newton-CG, jittable.

The model is the one of scikit-learn's `LogisticRegression(multi_class="multinomial", C=c)`: logits
z_i = W^T x_i + b over the classes marked present, and the objective

    L(W, b) = c * sum_i CE(softmax(z_i), y_i) + 1/2 ||W||_F^2      (the intercept b not penalised),

whose gradient and Hessian-vector product, with P the softmax probabilities and Y the one-hot labels,
are

    G = P - Y,        grad_W = c X^T G + W,          grad_b = c 1^T G,
    dZ = X V + 1 v_b^T,   dG = P * dZ - P * rowsum(P * dZ),   H[V, v_b] = (c X^T dG + V, c 1^T dG).

L is strictly convex in W (and in b over the present classes, unless a class separates perfectly),
so Newton's method converges quadratically near the optimum. Each step solves H p = -grad by conjugate
gradients preconditioned with the exact Hessian diagonal (Jacobi; c sum_i x_ik^2 p_ij (1 - p_ij) + 1
for W), to a forcing tolerance that tightens as the gradient shrinks (Eisenstat & Walker 1996), and
then backtracks along p until the objective decreases (Armijo). Callers should hand in features whose
columns are (near) orthogonal, e.g. U S of a thin SVD, for which that diagonal captures most of the
curvature. Absent classes get logits of -inf and weights that stay 0 (scikit-learn fits only the
classes it has seen).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from parc_jax.estimators import _stats

MAX_NEWTON_STEPS = 100
MAX_CG_STEPS = 250
GRADIENT_TOLERANCE = 1e-6  # relative to the gradient at W = 0, b = 0
MAX_HALVINGS = 30
ARMIJO = 1e-4


def _dot(a, b) -> jax.Array:
    return sum(jnp.vdot(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def _axpy(alpha, x, y):
    """alpha * x + y for pytrees."""
    return jax.tree.map(lambda u, v: alpha * u + v, x, y)


def logits(x: jax.Array, params, present: jax.Array) -> jax.Array:
    """[N, C] logits x W + b, -inf for the classes not present."""
    w, b = params
    return jnp.where(present, _stats.matmul(x, w) + b, -jnp.inf)


def fit_multinomial(x: jax.Array, labels: jax.Array, present: jax.Array, *, c: float = 1.0):
    """Minimise c * sum_i CE + 1/2 ||W||^2 over (W [D, C], b [C]).

    Args:
      x: [N, D] training features (best centred, with orthogonal columns).
      labels: [N] int class of each row, each one marked in `present`.
      present: [C] bool, the classes the model predicts among.
      c: inverse regularisation strength (scikit-learn's C).

    Returns:
      (W, b) at the optimum (to float32 precision, or after MAX_NEWTON_STEPS steps).
    """
    n, d = x.shape
    num_classes = present.shape[0]
    one_hot = jax.nn.one_hot(labels, num_classes, dtype=x.dtype)

    def objective(params):
        z = logits(x, params, present)
        cross_entropy = jax.nn.logsumexp(z, axis=1) - jnp.take_along_axis(z, labels[:, None], axis=1)[:, 0]
        return c * jnp.sum(cross_entropy) + 0.5 * jnp.sum(params[0] ** 2)

    def probabilities(params):
        return jax.nn.softmax(logits(x, params, present), axis=1)

    def gradient(params, p):
        g = c * (p - one_hot)
        return (_stats.matmul(x.T, g) + params[0], jnp.sum(g, axis=0))

    def hessian_product(p, v):
        dz = _stats.matmul(x, v[0]) + v[1]
        dg = c * (p * dz - p * jnp.sum(p * dz, axis=1, keepdims=True))
        return (_stats.matmul(x.T, dg) + v[0], jnp.sum(dg, axis=0))

    def preconditioner(p):
        curvature = c * p * (1.0 - p)  # [N, C]
        diag_w = _stats.matmul((x * x).T, curvature) + 1.0
        diag_b = jnp.sum(curvature, axis=0)
        return diag_w, jnp.where(diag_b > 0, diag_b, 1.0)

    def newton_direction(p, g, forcing):
        diagonal = preconditioner(p)
        precondition = lambda r: jax.tree.map(jnp.divide, r, diagonal)  # noqa: E731
        r = jax.tree.map(jnp.negative, g)
        z = precondition(r)
        target = forcing * jnp.sqrt(_dot(g, g))
        zero = jax.tree.map(jnp.zeros_like, g)

        def keep_going(state):
            step, _, r, _, _ = state
            return (step < MAX_CG_STEPS) & (jnp.sqrt(_dot(r, r)) > target)

        def cg_step(state):
            step, solution, r, direction, rz = state
            h_direction = hessian_product(p, direction)
            alpha = rz / _dot(direction, h_direction)
            solution = _axpy(alpha, direction, solution)
            r = _axpy(-alpha, h_direction, r)
            z = precondition(r)
            rz_new = _dot(r, z)
            return step + 1, solution, r, _axpy(rz_new / rz, direction, z), rz_new

        _, solution, *_ = jax.lax.while_loop(keep_going, cg_step, (0, zero, r, z, _dot(r, z)))
        return solution

    def line_search(params, value, g, direction):
        slope = _dot(g, direction)
        slack = 8 * jnp.finfo(x.dtype).eps * jnp.abs(value)  # float32 rounding of the objective itself

        def keep_halving(state):
            halvings, step, new_value = state
            return (halvings < MAX_HALVINGS) & (new_value > value + ARMIJO * step * slope + slack)

        def halve(state):
            halvings, step, _ = state
            return halvings + 1, step / 2, objective(_axpy(step / 2, direction, params))

        _, step, new_value = jax.lax.while_loop(keep_halving, halve, (0, 1.0, objective(_axpy(1.0, direction, params))))
        return step, new_value

    params = (jnp.zeros((d, num_classes), x.dtype), jnp.zeros((num_classes,), x.dtype))
    p = probabilities(params)
    g = gradient(params, p)
    initial_norm = jnp.sqrt(_dot(g, g))

    def keep_stepping(state):
        step, _, _, g, progressed = state
        return (step < MAX_NEWTON_STEPS) & progressed & (jnp.sqrt(_dot(g, g)) > GRADIENT_TOLERANCE * initial_norm)

    def newton_step(state):
        step, params, value, g, _ = state
        p = probabilities(params)
        forcing = jnp.minimum(0.5, jnp.sqrt(jnp.sqrt(_dot(g, g)) / initial_norm))
        direction = newton_direction(p, g, forcing)
        size, new_value = line_search(params, value, g, direction)
        new_params = _axpy(size, direction, params)
        progressed = new_value < value
        return step + 1, new_params, new_value, gradient(new_params, probabilities(new_params)), progressed

    state = (0, params, objective(params), g, jnp.bool_(True))
    _, params, *_ = jax.lax.while_loop(keep_stepping, newton_step, state)
    return params
