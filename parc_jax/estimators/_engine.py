"""How a kernel becomes a checked, jitted estimator for one model or a whole bank.

Every estimator is described by an `EstimatorSpec`:

* `prepare(labels, num_classes, n=, d=, **opts)` runs on the host. It checks the labels and options
  and returns the label arrays handed to the kernel as traced arguments (never as constants, which
  XLA would constant-fold at compile time) plus the static keyword arguments of the kernel.
* `kernel(x, *label_args, **static)` is the pure, jittable computation for one model.

Most estimators compare a model with the target labels. Those with `target="reference"` (RSA, DDS)
compare it with a reference model's features [N, R] on the same images instead: the reference takes
the place of the labels everywhere here (host checks in `prepare`, one traced argument shared by the
whole bank, computed on once per bank program since `vmap` leaves unbatched work unbatched), and
`num_classes` is unused.

`run` calls the kernel for one model, `run_bank` for M models at once: the models are grouped by
feature shape and each group is one `jax.vmap`-ed, jitted program, so a bank of M models with equal
shapes compiles once and runs as one batched computation. Where zero columns appended to a model's
features leave its score unchanged (`pads_exactly`), a bank of mixed widths is first zero-padded to a
few shared widths (`bucket_widths`), so that it compiles a few programs rather than one per width.
Kernels whose value counts the columns (`takes_width`: LogME's evidence) get each model's true width
as a traced argument and stay exact on padded features.

Host (NumPy) inputs are checked and stacked with NumPy and moved to the device with `device_put`: no
program is compiled for anything but the estimators themselves.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from parc_jax.estimators import _platform, _validation


@dataclasses.dataclass(frozen=True)
class EstimatorSpec:
    """An estimator: its input kind, host-side preparation and jittable kernel."""

    name: str
    input_kind: str  # "features" or "probs"
    prepare: Callable[..., tuple[tuple, dict]]
    kernel: Callable[..., jax.Array]
    min_cols: int = 1
    description: str = ""
    target: str = "labels"  # what x is compared with: "labels" [N] / [N, C], or "reference" features [N, R]
    # Bank-relative estimators (scored against the other models of the bank): the kernel returns a
    # vector of T per-model terms, `run` returns those, and `combine` maps a bank's [M, T] terms to its
    # [M] scores in `run_bank`.
    combine: Callable[[jax.Array], jax.Array] | None = None
    higher_is_better: bool = True  # False for costs and error rates (PACTran, linear_valerr)
    # Whether all-zero columns appended to the features leave the value unchanged, as a function of the
    # options (without `n_dims`; see `pads_exactly`); never for probabilities.
    zero_columns_exact: Callable[..., bool] = lambda **_: False
    # The kernel takes the model's true feature width as a traced keyword argument `width` (so that it
    # is exact on zero-padded features).
    takes_width: bool = False
    # The kernel returns (value, whether every entry of x is finite), the flag computed within its own
    # passes over x; the engine then adds no `_validation.kernel_summary` pass of its own.
    checks_finite: bool = False
    # The kernel streams over x (row reductions, no [N, N] or [N, D] temporaries): `models_per_step`
    # gives it memory-sized steps on every platform.
    streaming: bool = False

    @property
    def target_name(self) -> str:
        """The argument name of the target in the public functions and messages."""
        return "reference_features" if self.target == "reference" else "labels"


# Models vectorised together per step of a bank, as a budget of elements for one step's [step, N, W]
# array (W = max(N, D) for features, whose kernels hold [N, D] and pairwise [N, N] arrays; W = Z for
# probabilities). On a CPU the budget keeps a step's temporaries cache-sized: PARC on a bank of 32
# models at N = 500, D = 2048 ran 3.2x faster in steps of 2 than of 16; LEEP and NCE on 32 models at
# N = 500, Z = 1000 2.5-4.5x faster in steps of 2 than all at once, and LEEP's class-slot loop another
# 1.3-1.7x faster one model at a time (NCE the same either way). On an accelerator the budget only
# bounds memory (1 GiB of float32 per step-sized array): large steps keep the chip busy.
_ELEMENTS_PER_STEP = {
    "cpu": {"features": 2**21, "probs": 2**19},
    "accelerator": {"features": 2**28, "probs": 2**28},
}


def models_per_step(n: int, d: int, input_kind: str, *, streaming: bool = False) -> int:
    """How many models of N probe samples and D columns `run_bank` vectorises together on the platform
    the program is built for (`_platform.current`).

    Streaming kernels (`EstimatorSpec.streaming`) keep nothing cache-sized, and a step's slice of the bank
    is a copy: they take the memory-sized steps of accelerators on a CPU too (ETran's energy term at M = 8,
    N = 500, D = 2048 on the 2-core VM: 2.6 ms in one step against 4.8 ms in steps of 2).
    """
    machine = "cpu" if _platform.is_cpu() and not streaming else "accelerator"
    width = d if input_kind == "probs" else max(n, d)
    return max(1, _ELEMENTS_PER_STEP[machine][input_kind] // (n * width))


# Jitted programs kept by `compiled` (each holds its traces and executables).
_PROGRAMS_KEPT = 64


def pads_exactly(spec: EstimatorSpec, width: int, opts: dict) -> bool:
    """Whether zero columns appended to a model's [N, width] features leave its score unchanged.

    With `n_dims` every feature estimator sees the features only through their first n_dims principal
    components, which zero columns leave unchanged when width >= n_dims (below it n_dims is clamped to
    the width, and padding would change the number of components). Without it the spec says
    (`zero_columns_exact`): kNN's distances do not see zero columns, a correlation between samples
    (PARC) averages over them.
    """
    if spec.input_kind != "features" or spec.target != "labels":
        return False
    if opts.get("n_dims") is not None:
        return width >= opts["n_dims"]
    return spec.zero_columns_exact(**opts)


def bucket_widths(widths) -> list[int]:
    """Feature widths rounded up to a few buckets, so that a bank of mixed widths compiles a few programs.

    Widths are taken from the largest down; the largest opens a bucket, and each next width joins it
    while the bucket's padded columns (its top width x its models) stay at most twice its models' own
    columns, else it opens the next bucket. The work of a bucket, linear in the columns for every
    estimator padded, thus at most doubles, while a program saved is 0.1-1 s of tracing and lowering on
    every run: widths 256, 384, ..., 1536 share one program (12,288 columns for 7,040); one model of
    2,048 and ten of 64 keep two.
    """
    bucket, top, models, own = {}, 0, 0, 0
    for width in sorted(widths, reverse=True):
        if top and top * (models + 1) <= 2 * (own + width):
            models, own = models + 1, own + width
        else:
            top, models, own = width, 1, width
        bucket[width] = top
    return [bucket[width] for width in widths]


@functools.lru_cache(maxsize=_PROGRAMS_KEPT)
def compiled(spec: EstimatorSpec, static_items: tuple, batched: bool, platform: str) -> Callable:
    """The jitted kernel of `spec` for one set of static options and one platform (cached); for banks,
    mapped over the models.

    The kernel is traced inside `_platform.building_for(platform)`, so that its CPU or accelerator
    routes follow the devices of the inputs. A bank [M, N, D] is scored `models_per_step` models at a
    time (`map_in_steps`); one compiled program whatever M. The bank program takes the [M] true widths
    of the models (passed to kernels that take `width`), and returns the [M] scores and each model's
    `_validation.kernel_summary` (or, with `checks_finite`, the kernel's own flag), so that the value
    checks ride along in the same dispatch.
    """
    fn = functools.partial(spec.kernel, **dict(static_items))

    def kernel(x, width, label_args):
        return fn(x, *label_args, width=width) if spec.takes_width else fn(x, *label_args)

    def bank(xs, widths, *label_args):
        def one(model):
            x, width = model
            if spec.checks_finite:
                return kernel(x, width, label_args)
            return kernel(x, width, label_args), _validation.kernel_summary(x, spec.input_kind)

        step = models_per_step(xs.shape[1], xs.shape[2], spec.input_kind, streaming=spec.streaming)
        return map_in_steps(one, (xs, widths), step)

    def single(x, *label_args):
        value = kernel(x, x.shape[-1], label_args)
        return value[0] if spec.checks_finite else value

    program = bank if batched else single

    def traced_for_platform(*args):
        with _platform.building_for(platform):
            return program(*args)

    return jax.jit(traced_for_platform)


def after(value, dependency):
    """`value` (an array or a pytree of arrays) made to depend on `dependency` (the same), so that XLA
    computes it only once `dependency` is done.

    For the LAPACK calls of batched kernels: on XLA:CPU (jaxlib 0.10, 2-core VM) two batched Cholesky
    factorisations or triangular solves that may run side by side, e.g. in one step of a bank's
    `lax.map`, hang the program in most runs (every pool thread idle, nothing left running). An
    `optimization_barrier` between them did not prevent it (XLA:CPU removed it), so the dependency is a
    data one: an exact 0 (0 x a flag of whether the first entry of each dependency leaf is NaN, which
    XLA does not fold) added to every leaf.
    """
    flags = [jnp.isnan(jnp.ravel(leaf)[0]) for leaf in jax.tree.leaves(dependency)]
    zero = 0.0 * jnp.any(jnp.stack(flags)).astype(jnp.float32)
    return jax.tree.map(lambda leaf: leaf + zero.astype(leaf.dtype), value)


def map_in_steps(one: Callable, xs, step: int):
    """`one(x)` (an array or a pytree of arrays) for every model x of xs (an array or a pytree of arrays
    with the models on their first axis), stacked over the models; `step` models vmapped together per
    step of a `lax.map`.

    Never a vmap over a single model (which `lax.map` does for a step of 1 or a remainder of 1): XLA
    keeps the unit batch axis, which cost up to 3x (LEEP at N = 2000 on a CPU). Single models run the
    plain kernel instead.

    The remainder waits for the full steps (`optimization_barrier` ties its input to their output): run
    side by side, batched LAPACK calls of the two can hang XLA:CPU's 2-thread pool (see `after`).
    """
    m = jax.tree.leaves(xs)[0].shape[0]
    if step == 1 or m == 1:
        return jax.lax.map(one, xs)
    full = m - m % step
    parts = [jax.lax.map(one, jax.tree.map(lambda a: a[:full], xs), batch_size=step)] if full else []
    rest = jax.tree.map(lambda a: a[full:], xs)
    if parts and m > full:
        parts[0], rest = jax.lax.optimization_barrier((parts[0], rest))
    if m - full == 1:
        parts.append(jax.lax.map(one, rest))
    elif m - full > 1:
        parts.append(jax.vmap(one)(rest))
    return jax.tree.map(lambda *pieces: jnp.concatenate(pieces), *parts)


def computed_unless(ok: jax.Array, value, fallback: Callable, *operands):
    """`value` if `ok`, else `fallback(*operands)`; the fallback is computed only where it is needed.

    `value` is an array or a pytree of arrays (the fallback returns the same structure). For one model
    this is a `lax.cond`. Under `vmap` (a bank) a cond turns into a select that runs the fallback for
    every model, so the batched form loops over the models with one real cond each (`lax.map`), and
    skips even that loop when every model is ok. Operands that are not batched (labels shared by the
    bank) stay unbatched.
    """
    leaves, tree = jax.tree.flatten(value)

    def cond(ok, leaves, operands):
        computed = lambda: [r.astype(v.dtype) for r, v in zip(jax.tree.leaves(fallback(*operands)), leaves)]  # noqa: E731
        return jax.lax.cond(ok, lambda: list(leaves), computed)

    @jax.custom_batching.custom_vmap
    def pick(ok, leaves, operands):
        return cond(ok, leaves, operands)

    @pick.def_vmap
    def pick_batched(axis_size, in_batched, ok, leaves, operands):
        ok_batched, leaves_batched, operands_batched = in_batched
        ok = ok if ok_batched else jnp.broadcast_to(ok, (axis_size,))
        leaves = [v if b else jnp.broadcast_to(v, (axis_size, *v.shape)) for v, b in zip(leaves, leaves_batched)]
        per_model = [x for x, batched in zip(operands, operands_batched) if batched]

        def one(args):
            ok_i, leaves_i, per_model_i = args
            given = iter(per_model_i)
            return cond(ok_i, leaves_i, [next(given) if b else x for x, b in zip(operands, operands_batched)])

        loop = lambda: jax.lax.map(one, (ok, leaves, per_model))  # noqa: E731
        return jax.lax.cond(jnp.all(ok), lambda: leaves, loop), [True] * len(leaves)

    return jax.tree.unflatten(tree, pick(ok, leaves, list(operands)))


_row_summary = jax.jit(_validation.row_summary, static_argnames="input_kind")
# (kernel, static options, input shape, label shapes, platform) of the last bank programs that have run:
# their values are checked from the summary the program returns.
_warm_programs: collections.OrderedDict = collections.OrderedDict()


def _check_shape(spec: EstimatorSpec, x, num_rows: int, *, bank: bool = False):
    name = "probs" if spec.input_kind == "probs" else "features"
    min_cols = 2 if spec.input_kind == "probs" else spec.min_cols
    return _validation.check_shape(x, name, num_rows, min_cols=min_cols, bank=bank, target=spec.target_name)


def _num_rows(spec: EstimatorSpec, labels) -> int:
    shape = np.shape(labels)
    if len(shape) == 0:
        raise ValueError(f"{spec.target_name} must be an array with one entry per sample, got a scalar")
    return shape[0]


# Prepared label arguments of the last calls, keyed by the labels' content and the options: scoring
# again on the same labels skips the host-side checks and transfers (0.3-0.7 ms a call on a CPU, where
# a LEEP bank of 8 models at N = 500 takes 4-6 ms).
_PREPARED_KEPT = 32
_prepared: collections.OrderedDict = collections.OrderedDict()


def _content_key(spec: EstimatorSpec, labels, num_classes, n: int, d: int, opts: dict, platform: str):
    """A hashable key of the labels' values (a 16-byte digest) and the options (types included, so that
    5.0 is not 5), or None for traced, object or unhashable ones (prepared, and rejected, every time)."""
    if _validation.is_traced(labels):
        return None
    try:
        array = np.asarray(labels)
        if array.dtype == object:
            return None
        options = tuple((name, type(value).__name__, value) for name, value in sorted(opts.items()))
        digest = hashlib.blake2b(np.ascontiguousarray(array).view(np.uint8), digest_size=16).digest()
        key = (
            spec.name,
            platform,
            array.dtype.str,
            array.shape,
            digest,
            type(num_classes).__name__,
            num_classes,
            n,
            d,
            options,
        )
        hash(key)
    except (TypeError, ValueError):
        return None
    return key


def _on_device(value):
    """Host arrays moved to the default device by `device_put` (`jnp.asarray` would compile a program per
    shape); device arrays and tracers unchanged."""
    return jax.device_put(value) if isinstance(value, (np.ndarray, np.generic)) else value


def _prepare(spec: EstimatorSpec, x, labels, num_classes, opts: dict, platform: str) -> tuple[tuple, tuple]:
    """The kernel's label arguments (on the device) and its static options (as the hashable key of
    `compiled`), prepared for `platform` (block plans depend on it)."""
    n, d = x.shape[-2], x.shape[-1]
    key = _content_key(spec, labels, num_classes, n, d, opts, platform)
    if key in _prepared:
        _prepared.move_to_end(key)
        return _prepared[key]
    with _platform.building_for(platform):
        label_args, static = spec.prepare(labels, num_classes, n=n, d=d, **opts)
    prepared = tuple(_on_device(a) for a in label_args), tuple(sorted(static.items()))
    if key is not None and not _validation.is_traced(*prepared[0]):  # under a user's jit they are tracers
        _prepared[key] = prepared
        if len(_prepared) > _PREPARED_KEPT:
            _prepared.popitem(last=False)
    return prepared


def _row_summary_anywhere(xs, input_kind: str):
    """`_validation.row_summary` of xs on the host: computed by NumPy for a host array, else on its
    device."""
    if isinstance(xs, np.ndarray):
        return _validation.row_summary(xs, input_kind, xp=np)
    return jax.device_get(_row_summary(xs, input_kind=input_kind))


def _score_bank(spec: EstimatorSpec, xs, labels, num_classes, opts: dict, models=None, widths=None):
    """Dispatch the bank program on [M, N, D] `xs` (a host or device array; `widths`: the models' true
    widths where they were zero-padded); returns a thunk that checks the values and gives the [M] scores
    (so several groups can be dispatched before any is waited for).

    The first time a program meets these shapes its input values are checked on their own, before
    it is compiled; afterwards the check reads the `kernel_summary` the program returns with the scores.
    """
    if isinstance(xs, jax.Array) or _validation.is_traced(xs):
        xs = jnp.asarray(xs, jnp.float32)
    else:
        xs = np.asarray(xs, np.float32)
    platform = _platform.of(xs)
    label_args, static_items = _prepare(spec, xs, labels, num_classes, opts, platform)
    key = (spec.kernel, static_items, xs.shape, tuple(np.shape(a) for a in label_args), platform)
    if key not in _warm_programs:
        _validation.check_values(_row_summary_anywhere(xs, spec.input_kind), spec.input_kind, xs.shape, models)
    widths = np.full(xs.shape[0], xs.shape[2], np.int32) if widths is None else np.asarray(widths, np.int32)
    fn = compiled(spec, static_items, True, platform)
    scores, summary = fn(_on_device(xs), _on_device(widths), *label_args)
    _warm_programs[key] = None
    _warm_programs.move_to_end(key)
    if len(_warm_programs) > _PROGRAMS_KEPT:
        _warm_programs.popitem(last=False)

    def checked_scores():
        if not np.all(jax.device_get(summary)):  # find and name the first bad row
            _validation.check_values(_row_summary_anywhere(xs, spec.input_kind), spec.input_kind, xs.shape, models)
        return scores

    return checked_scores


def run(spec: EstimatorSpec, x, labels, num_classes, **opts) -> jax.Array:
    """Check the inputs, then score one model; returns a scalar `jax.Array`.

    Outside a trace, one model is scored as a bank of one, by the same program as `run_bank`. (Its
    score can differ from the same model's inside a larger, vmapped bank in the last float32 bits:
    batched and unbatched kernels, LAPACK's above all, round differently.)
    """
    x = _check_shape(spec, x, _num_rows(spec, labels))
    if _validation.is_traced(x):
        platform = _platform.current()
        label_args, static_items = _prepare(spec, x, labels, num_classes, opts, platform)
        fn = compiled(spec, static_items, False, platform)
        return fn(jnp.asarray(x, jnp.float32), *label_args)
    bank = x[None] if isinstance(x, jax.Array) else np.asarray(x)[None]
    value = _score_bank(spec, bank, labels, num_classes, opts)()[0]
    return _validation.check_result(value, spec.name)


def run_bank(spec: EstimatorSpec, xs, labels, num_classes, **opts) -> jax.Array:
    """Score M models on the same labels: `xs` is an [M, N, D] array or a list of M [N, D_m] arrays.

    Models with equal shapes are scored together by one vmapped program; where zero columns change no
    score (`pads_exactly`), models of different widths are zero-padded to a few shared widths first
    (`bucket_widths`). The result is the [M] vector of the scores that M separate `run` calls give (for
    a bank-relative estimator, its `combine` of the [M, T] terms that M `run` calls give).
    """
    terms = run_bank_terms(spec, xs, labels, num_classes, **opts)
    return terms if spec.combine is None else spec.combine(terms)


def _padded_widths(spec: EstimatorSpec, widths: list[int], opts: dict) -> list[int]:
    """Each model's width in its program: its bucket's where zero padding is exact, else its own."""
    exact = [pads_exactly(spec, w, opts) for w in widths]
    buckets = iter(bucket_widths([w for w, ok in zip(widths, exact) if ok]))
    return [next(buckets) if ok else w for w, ok in zip(widths, exact)]


def _stack(models: list, width: int):
    """Models [N, D_m] zero-padded to `width` columns and stacked: with NumPy on the host when they are
    all host arrays, else on the device."""
    if all(isinstance(x, np.ndarray) for x in models):
        return np.stack([np.pad(np.asarray(x, np.float32), ((0, 0), (0, width - x.shape[1]))) for x in models])
    return jnp.stack([jnp.pad(jnp.asarray(x, jnp.float32), ((0, 0), (0, width - x.shape[1]))) for x in models])


def run_bank_terms(spec: EstimatorSpec, xs, labels, num_classes, **opts) -> jax.Array:
    """`run_bank` before a bank-relative estimator's `combine`: [M] scores, or [M, T] per-model terms."""
    n = _num_rows(spec, labels)
    if getattr(xs, "ndim", None) == 3:
        xs = _check_shape(spec, xs, n, bank=True)
        return _validation.check_result(_score_bank(spec, xs, labels, num_classes, opts)(), spec.name)
    if not isinstance(xs, (list, tuple)) or not xs:
        raise ValueError("a bank must be an [M, N, D] array or a non-empty list of [N, D] arrays")
    checked = []
    for index, x in enumerate(xs):
        try:
            checked.append(_check_shape(spec, x, n))
        except ValueError as error:
            raise ValueError(f"model {index}: {error}") from None
    widths = [x.shape[1] for x in checked]
    groups: dict[int, list[int]] = {}
    for index, width in enumerate(_padded_widths(spec, widths, opts)):
        groups.setdefault(width, []).append(index)
    pending = []
    for width, indices in groups.items():  # dispatch every group before waiting for any
        stacked = _stack([checked[i] for i in indices], width)
        group_widths = [widths[i] for i in indices]
        pending.append(
            (indices, _score_bank(spec, stacked, labels, num_classes, opts, models=indices, widths=group_widths))
        )
    scores = None
    for indices, group_scores in pending:
        values = np.asarray(group_scores())
        if scores is None:
            scores = np.empty((len(checked), *values.shape[1:]), np.float32)
        scores[indices] = values
    return _validation.check_result(jax.device_put(scores), spec.name)
