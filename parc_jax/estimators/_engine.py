"""How a kernel becomes a checked, jitted estimator for one model or a whole bank.

Every estimator is described by an `EstimatorSpec`:

* `prepare(labels, num_classes, n=, d=, **opts)` runs on the host. It checks the labels and options
  and returns the label arrays handed to the kernel as traced arguments (never as constants, which
  XLA would constant-fold at compile time) plus the static keyword arguments of the kernel.
* `kernel(x, *label_args, **static)` is the pure, jittable computation for one model.

`run` calls the kernel for one model, `run_bank` for M models at once: the models are grouped by
feature shape and each group is one `jax.vmap`-ed, jitted program, so a bank of M models with equal
shapes compiles once and runs as one batched computation.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from parc_jax.estimators import _validation


@dataclasses.dataclass(frozen=True)
class EstimatorSpec:
    """An estimator: its input kind, host-side preparation and jittable kernel."""

    name: str
    input_kind: str  # "features" or "probs"
    prepare: Callable[..., tuple[tuple, dict]]
    kernel: Callable[..., jax.Array]
    min_cols: int = 1
    description: str = ""


# Models vectorised together per step of a bank: enough to fill the machine on small probes, while a
# step's pairwise [chunk, N, N] work stays cache-sized on large ones (a vmap over the whole bank at
# N = 2000 ran 1.6x slower per model than one model at a time on a CPU).
_PAIR_ELEMENTS_PER_STEP = 2**22


def models_per_step(n: int) -> int:
    """How many models of N probe samples `run_bank` vectorises together."""
    return max(1, _PAIR_ELEMENTS_PER_STEP // (n * n))


@functools.lru_cache(maxsize=None)
def compiled(kernel: Callable, static_items: tuple, num_label_args: int, batched: bool) -> Callable:
    """The jitted kernel for one set of static options (cached); for banks, mapped over the models.

    A bank [M, N, D] is scored `models_per_step(N)` models at a time: `lax.map` over chunks, each
    chunk vmapped; one compiled program whatever M.
    """
    fn = functools.partial(kernel, **dict(static_items))
    if not batched:
        return jax.jit(fn)

    def bank(xs, *label_args):
        return jax.lax.map(lambda x: fn(x, *label_args), xs, batch_size=models_per_step(xs.shape[1]))

    return jax.jit(bank)


def _check_input(spec: EstimatorSpec, x, num_rows: int, *, bank: bool = False):
    if spec.input_kind == "probs":
        return _validation.check_probs(x, num_rows, bank=bank)
    x = _validation.check_matrix(x, "features", min_cols=spec.min_cols, bank=bank)
    if x.shape[-2] != num_rows:
        raise ValueError(f"features has {x.shape[-2]} rows but labels has {num_rows}")
    return x


def _num_rows(labels) -> int:
    shape = np.shape(labels)
    if len(shape) == 0:
        raise ValueError("labels must be an array with one entry per sample, got a scalar")
    return shape[0]


def _call(spec: EstimatorSpec, x, labels, num_classes, opts: dict, *, batched: bool) -> jax.Array:
    label_args, static = spec.prepare(labels, num_classes, n=x.shape[-2], d=x.shape[-1], **opts)
    fn = compiled(spec.kernel, tuple(sorted(static.items())), len(label_args), batched)
    return fn(jnp.asarray(x, jnp.float32), *label_args)


def run(spec: EstimatorSpec, x, labels, num_classes, **opts) -> jax.Array:
    """Check the inputs, then score one model; returns a scalar `jax.Array`.

    Outside a trace, one model is scored as a bank of one, by the same vmapped program as
    `run_bank`: batched and unbatched LAPACK kernels can differ in the last bits, and a model must
    get the same score alone as in a bank.
    """
    x = _check_input(spec, x, _num_rows(labels))
    if _validation.is_traced(x):
        return _call(spec, x, labels, num_classes, opts, batched=False)
    value = _call(spec, jnp.asarray(x)[None], labels, num_classes, opts, batched=True)[0]
    return _validation.check_result(value, spec.name)


def run_bank(spec: EstimatorSpec, xs, labels, num_classes, **opts) -> jax.Array:
    """Score M models on the same labels: `xs` is an [M, N, D] array or a list of M [N, D_m] arrays.

    Models with equal shapes are scored together by one vmapped program; the result is the [M]
    vector of the scores that M separate `run` calls give.
    """
    n = _num_rows(labels)
    if getattr(xs, "ndim", None) == 3:
        xs = _check_input(spec, xs, n, bank=True)
        return _validation.check_result(_call(spec, xs, labels, num_classes, opts, batched=True), spec.name)
    if not isinstance(xs, (list, tuple)) or not xs:
        raise ValueError("a bank must be an [M, N, D] array or a non-empty list of [N, D] arrays")
    checked = []
    for index, x in enumerate(xs):
        try:
            checked.append(_check_input(spec, x, n))
        except ValueError as error:
            raise ValueError(f"model {index}: {error}") from None
    groups: dict[tuple, list[int]] = {}
    for index, x in enumerate(checked):
        groups.setdefault(tuple(x.shape), []).append(index)
    pending = []
    for indices in groups.values():  # dispatch every group before waiting for any
        stacked = jnp.stack([jnp.asarray(checked[i], jnp.float32) for i in indices])
        pending.append((indices, _call(spec, stacked, labels, num_classes, opts, batched=True)))
    scores = np.empty(len(checked), np.float32)
    for indices, values in pending:
        scores[indices] = np.asarray(values)
    return _validation.check_result(jnp.asarray(scores), spec.name)
