"""Input checks shared by the estimators.

Shapes, dtypes, labels and options are checked on the host, before anything is traced. Values (NaN,
inf, probabilities that are negative or do not sum to 1) need a pass over the data: `row_summary`
condenses each row to one or two numbers on the device and `check_values` reads them on the host.
The engine runs that pass on its own before an estimator is compiled for a shape, and afterwards as
part of the estimator's own program (`kernel_summary`: same dispatch; fused with the first pass over
features, one row-sum pass over probabilities). Every check raises a `ValueError` with a message a
user can act on. Inside a trace (someone jitting a public estimator) only the host checks apply,
since values are unknown there.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

PROBS_SUM_TOLERANCE = 1e-3  # must stay below 1: `kernel_summary` counts a negative entry as 2


def is_traced(*arrays) -> bool:
    """True when any argument is a JAX tracer (values are not available)."""
    return any(isinstance(a, jax.core.Tracer) for a in arrays)


def _where(flat_index: int, shape, models=None) -> str:
    """'model m, row i' (bank; m renumbered through `models` if given) or 'row i' for a flat row index."""
    if len(shape) == 3:
        model, row = divmod(flat_index, shape[1])
        return f"model {model if models is None else models[model]}, row {row}"
    return f"row {flat_index}"


def check_num_classes(num_classes) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2, got {num_classes}")
    return int(num_classes)


def check_n_dims(n_dims, n: int, d: int) -> int | None:
    """None (all dimensions) or an int >= 2, clamped to min(N, D) as a PCA can give no more."""
    if n_dims is None:
        return None
    if isinstance(n_dims, bool) or not isinstance(n_dims, (int, np.integer)) or n_dims < 2:
        raise ValueError(f"n_dims must be None or an int >= 2, got {n_dims!r}")
    return int(min(n_dims, n, d))


def check_reference(reference, num_rows: int) -> np.ndarray:
    """A finite numeric [N, R] reference feature matrix (another model's features on the same N images)."""
    if is_traced(reference):
        raise ValueError("reference_features must be concrete (not traced): pass them as a NumPy array")
    r = np.asarray(reference)
    if r.ndim != 2 or r.shape[0] != num_rows or r.shape[1] < 2:
        raise ValueError(
            f"reference_features must have shape ({num_rows}, R) with R >= 2 (one row per probe image), got {r.shape}"
        )
    if not (np.issubdtype(r.dtype, np.floating) or np.issubdtype(r.dtype, np.integer)):
        raise ValueError(f"reference_features must be numeric, got dtype {r.dtype}")
    if not np.isfinite(r).all():
        row = int(np.flatnonzero(~np.isfinite(r).all(axis=1))[0])
        raise ValueError(f"reference_features contains NaN or inf (first at row {row}); drop or fix those samples")
    return r.astype(np.float32)


def check_shape(x, name: str, num_rows: int, *, min_cols: int, bank: bool, target: str = "labels"):
    """A numeric [N, D] matrix (or [M, N, D] bank) with N = num_rows >= 3 and D >= min_cols; returned
    unchanged. Shapes and dtypes only: the values are checked from `row_summary` by `check_values`."""
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        x = np.asarray(x)
    ndim = 3 if bank else 2
    if x.ndim != ndim:
        layout = "[M, N, D]" if bank else "[N, D]"
        raise ValueError(f"{name} must be a {ndim}-D array {layout}, got shape {tuple(x.shape)}")
    n, d = x.shape[-2:]
    if n < 3:
        raise ValueError(f"{name} has N={n} samples; at least 3 are needed")
    if d < min_cols:
        raise ValueError(f"{name} has {d} columns; at least {min_cols} are needed")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"{name} must be numeric, got dtype {x.dtype}")
    if n != num_rows:
        raise ValueError(f"{name} has {n} rows but {target} has {num_rows}")
    return x


def row_summary(x: jax.Array, input_kind: str, xp=jnp) -> tuple[jax.Array, ...]:
    """Per row of x ([N, D] or [M, N, D]), what `check_values` needs: jittable, one pass over x (with
    `xp=np`, the same on the host).

    Features: whether the row is finite. Probabilities: the row minimum and sum, from which a row is
    finite iff both are (NaN propagates into both, +inf into the sum, -inf into the minimum, and +inf
    with -inf makes the sum NaN); features keep `isfinite`, since the sum of a huge finite row may
    overflow.
    """
    if input_kind == "probs":
        return x.min(axis=-1), x.sum(axis=-1)
    return (xp.isfinite(x).all(axis=-1),)


def kernel_summary(x: jax.Array, input_kind: str) -> jax.Array:
    """Whether a model's values pass the value checks, computed by the bank program inside its
    per-model map, next to the kernel's own passes over x (one flag per model crosses to the host).

    Features: all finite, a column reduction that fuses with standardisation's (3 of ~80 ms of PARC at
    M = 8, N = 500, D = 2048 as a separate row pass). Probabilities: one row sum in which a negative
    entry counts as 2 (more than a valid row's total), so that |sum - 1| <= tolerance holds exactly
    when the row is finite, non-negative and sums to 1 (NaN and +inf spoil the sum, -inf is negative);
    one pass over x where the row minimum and sum took two (LEEP: 0.6 of 3.3 ms at M = 8, N = 500,
    Z = 1000). A model that fails is looked at again with `row_summary`, which names the first bad row.
    """
    if input_kind == "probs":
        flagged_sum = jnp.where(x < 0, 2.0, x).sum(axis=-1)
        return (jnp.abs(flagged_sum - 1.0) <= PROBS_SUM_TOLERANCE).all()
    return jnp.isfinite(x).all(axis=0).all()


def check_values(summary, input_kind: str, shape, models=None) -> None:
    """Raise a `ValueError` naming the first bad row, from the host copy of `row_summary`'s output."""
    name = "probs" if input_kind == "probs" else "features"
    if input_kind == "probs":
        row_min, row_sum = (np.asarray(s, np.float64).reshape(-1) for s in summary)
        finite = np.isfinite(row_min) & np.isfinite(row_sum)
    else:
        finite = np.asarray(summary[0]).reshape(-1)
    if not finite.all():
        where = _where(int(np.flatnonzero(~finite)[0]), shape, models)
        raise ValueError(f"{name} contains NaN or inf (first at {where}); drop or fix those samples")
    if input_kind != "probs":
        return
    if (row_min < 0).any():
        bad = int(np.flatnonzero(row_min < 0)[0])
        raise ValueError(
            f"probs must be non-negative ({_where(bad, shape, models)} has {row_min[bad]:.3g}); pass softmax outputs"
        )
    worst = int(np.argmax(np.abs(row_sum - 1.0)))
    if abs(row_sum[worst] - 1.0) > PROBS_SUM_TOLERANCE:
        raise ValueError(
            f"probs rows must sum to 1 ({_where(worst, shape, models)} sums to {row_sum[worst]:.6g}); "
            "pass softmax outputs, not logits"
        )


def check_labels(labels, num_rows: int, num_classes: int) -> np.ndarray:
    """Integer class labels [N] in [0, num_classes) with at least two classes present."""
    if is_traced(labels):
        raise ValueError("labels must be concrete (not traced): pass them as a NumPy array")
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"labels must be a 1-D array of class indices, got shape {y.shape}")
    if y.shape[0] != num_rows:
        raise ValueError(f"labels has {y.shape[0]} entries but the features have {num_rows} rows")
    if not (np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_):
        raise ValueError(f"labels must be integers, got dtype {y.dtype} (use labels.astype(int) for class indices)")
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= num_classes:
        bad = y[(y < 0) | (y >= num_classes)]
        raise ValueError(f"labels must be in [0, {num_classes}); found {sorted(set(bad.tolist()))[:5]}")
    present = np.unique(y).size
    if present < 2:
        raise ValueError(f"labels contain only class {lo}; at least 2 classes must be present")
    return y.astype(np.int32)


def check_multi_hot(labels, num_rows: int, num_classes: int) -> np.ndarray:
    """Multi-hot targets [N, C] of 0/1 with no constant row (a constant row has no correlation)."""
    y = np.asarray(labels)
    if y.shape != (num_rows, num_classes):
        raise ValueError(f"multi-hot labels must have shape ({num_rows}, {num_classes}), got {y.shape}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("multi-hot labels must contain only 0 and 1")
    sums = y.sum(axis=1)
    constant = np.flatnonzero((sums == 0) | (sums == num_classes))
    if constant.size:
        raise ValueError(
            f"multi-hot label row {int(constant[0])} is all 0 or all 1; its correlation is undefined, drop it"
        )
    return y.astype(np.float32)


def check_targets(targets, num_rows: int) -> np.ndarray:
    """Real-valued targets [N, K] (regression or multi-label LogME)."""
    t = np.asarray(targets)
    if t.ndim != 2 or t.shape[0] != num_rows:
        raise ValueError(f"targets must have shape ({num_rows}, K), got {t.shape}")
    if not np.isfinite(t).all():
        raise ValueError("targets contain NaN or inf")
    return t.astype(np.float32)


def check_result(value, name: str):
    """Never hand back a silent NaN: explain instead."""
    if not is_traced(value) and not np.isfinite(np.asarray(value)).all():
        raise ValueError(
            f"{name} is undefined for this input (the computation produced NaN/inf); check for samples whose "
            "features are constant across all dimensions"
        )
    return value
