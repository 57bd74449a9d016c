"""Linear-probe baselines: a linear softmax head trained on part of the probe set and scored on the rest.

`linear_valerr` (google-research/pactran_metrics, `calculate_linear_valerr` after `calculate_pac_gauss`
on half of the data): X is centred with its global mean; the head of PACTran-Gaussian,

    L(W, b) = (1/h) sum_{i < h} CE(x_i W + b, y_i) + ||W||^2 / (2 lam h),

is fit on the first h = floor(N/2) rows (re-centred by their own mean, as released) and the score is
the fraction of the remaining rows (globally centred) whose argmax(x W + b) is not their label: LOWER
is better. The release shuffles the probe first (`random.seed(run)`); here the rows are taken in the
given order, so shuffle the probe set beforehand if it is sorted by class.

`linear_probe` (TE-Bench, alizkzm/te-guide `guide/scores/trivial.py` `LinearProbe`): classes with fewer
samples than folds are dropped; scikit-learn's `StratifiedKFold(folds, shuffle=True, random_state=seed)`
splits the rest; per fold the features are standardised with the training rows' mean and population
std (constant columns unscaled, as `StandardScaler`) and a multinomial logistic regression with
L(W, b) = (1/n) sum CE + ||W||^2 / (2 n) (scikit-learn's C = 1) is fit; the score is the mean test
accuracy over the folds (higher is better).

Both fits are solved to convergence (`_softmax_regression`); the releases stop L-BFGS early (SciPy's
relative decrease 1e-6, scikit-learn's max_iter = 200 and gradient tolerance 1e-4), which moves the
accuracies by a few validation samples (up to 0.008 on the goldens). All folds of a model run in one
program (`vmap`), the rows of each fold gathered through index arrays fixed on the host.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from parc_jax.estimators import _engine, _labels, _softmax_regression, _stats


def _standardized(train, train_weights, others):
    """train and others [m, D] standardised with the statistics of the rows of train with weight > 0
    (padding rows become 0); constant columns are centred, not scaled."""
    inside = train_weights[:, None] > 0
    total = jnp.sum(train_weights)
    mean = jnp.sum(jnp.where(inside, train, 0.0), axis=0) / total
    var = jnp.sum(jnp.where(inside, (train - mean) ** 2, 0.0), axis=0) / total
    constant = jnp.max(jnp.where(inside, train, -jnp.inf), axis=0) == jnp.min(jnp.where(inside, train, jnp.inf), axis=0)
    scale = jnp.where(constant, 1.0, jnp.sqrt(var))
    return jnp.where(inside, (train - mean) / scale, 0.0), (others - mean) / scale


def _predictions(fit, coordinates, class_mask):
    return _stats.first_argmax(_softmax_regression.masked_logits(coordinates, fit.weights, fit.bias, class_mask))


def _valerr_kernel(features, labels, class_mask, lam, *, num_classes, max_steps):
    n = features.shape[0]
    half = n // 2
    centered = features - _stats.column_mean(features)
    train = centered[:half] - _stats.column_mean(centered[:half])
    coordinates, validation = _softmax_regression.training_coordinates(train, centered[half:])
    fit = _softmax_regression.fit(
        coordinates,
        labels[:half],
        jnp.ones((half,), jnp.float32),
        num_classes=num_classes,
        l2=1.0 / (lam * half),
        max_steps=max_steps,
        class_mask=class_mask,
    )
    return jnp.mean(_predictions(fit, validation, class_mask) != labels[half:])


def _probe_kernel(
    features, labels, train_rows, train_weights, test_rows, test_weights, class_mask, *, num_classes, max_steps
):
    def fold(train_rows, train_weights, test_rows, test_weights):
        train, test = _standardized(features[train_rows], train_weights, features[test_rows])
        coordinates, test_coordinates = _softmax_regression.training_coordinates(train, test)
        fit = _softmax_regression.fit(
            coordinates,
            labels[train_rows],
            train_weights,
            num_classes=num_classes,
            l2=1.0 / jnp.sum(train_weights),
            max_steps=max_steps,
            class_mask=class_mask,
        )
        right = _predictions(fit, test_coordinates, class_mask) == labels[test_rows]
        return jnp.sum(jnp.where(right, test_weights, 0.0)) / jnp.sum(test_weights)

    return jnp.mean(jax.vmap(fold)(train_rows, train_weights, test_rows, test_weights))


def _prepare_valerr(labels, num_classes, *, n, d, lam=1.0, max_steps=None):
    labels, num_classes = _labels.checked_class_labels(labels, num_classes, n)
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not lam > 0:
        raise ValueError(f"lam must be a number > 0, got {lam!r}")
    present = np.bincount(labels[: n // 2], minlength=num_classes) > 0
    if present.sum() < 2:
        raise ValueError(
            "linear_valerr trains on the first half of the probe set, which holds a single class: shuffle the "
            "probe set (it looks sorted by class)"
        )
    static = dict(num_classes=num_classes, max_steps=_softmax_regression.check_max_steps(max_steps))
    return (np.asarray(labels), np.asarray(present), np.float32(lam)), static


def stratified_folds(labels: np.ndarray, folds: int, seed: int) -> tuple[np.ndarray, ...]:
    """Padded fold tables of the TE-Bench probe (host side): classes with fewer than `folds` samples are
    dropped, scikit-learn's `StratifiedKFold(folds, shuffle=True, random_state=seed)` splits the rest.

    Returns (train_rows [F, T], train_weights [F, T], test_rows [F, S], test_weights [F, S], kept [C]):
    row indices padded with row 0 at weight 0, and the mask of the classes kept.
    """
    from sklearn.model_selection import StratifiedKFold

    counts = np.bincount(labels)
    kept_classes = counts >= folds
    rows = np.flatnonzero(kept_classes[labels])
    if np.count_nonzero(kept_classes) < 2:
        raise ValueError(f"linear_probe needs at least 2 classes with {folds} or more samples (one per fold)")
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(rows, labels[rows]))

    def padded(parts):
        width = max(len(p) for p in parts)
        index = np.zeros((len(parts), width), np.int32)
        weight = np.zeros((len(parts), width), np.float32)
        for f, part in enumerate(parts):
            index[f, : len(part)], weight[f, : len(part)] = rows[part], 1.0
        return index, weight

    return (*padded([train for train, _ in splits]), *padded([test for _, test in splits]), kept_classes)


def _prepare_probe(labels, num_classes, *, n, d, folds=3, seed=0, max_steps=None):
    labels, num_classes = _labels.checked_class_labels(labels, num_classes, n)
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ValueError(f"folds must be an int >= 2, got {folds!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    *tables, kept = stratified_folds(labels, folds, seed)
    kept = np.pad(kept, (0, num_classes - kept.size))
    static = dict(num_classes=num_classes, max_steps=_softmax_regression.check_max_steps(max_steps))
    return (np.asarray(labels), *(np.asarray(t) for t in tables), np.asarray(kept)), static


VALERR = _engine.EstimatorSpec(
    name="linear_valerr",
    input_kind="features",
    prepare=_prepare_valerr,
    kernel=_valerr_kernel,
    description="linear-probe validation error (PACTran release): fit on the first half, error on the rest",
    higher_is_better=False,
)
PROBE = _engine.EstimatorSpec(
    name="linear_probe",
    input_kind="features",
    prepare=_prepare_probe,
    kernel=_probe_kernel,
    description="linear probe (TE-Bench): stratified 3-fold logistic-regression accuracy on standardised features",
)


def linear_valerr(
    features: jax.typing.ArrayLike, labels, num_classes: int, *, lam: float = 1.0, max_steps: int | None = None
) -> jax.Array:
    """Half-split validation error of a linear softmax head (the PACTran release's linear baseline).

    Args:
      features: [N, D] probe features, in a random order (the first N // 2 rows train, the rest validate).
      labels: [N] int target labels in [0, num_classes); the first half must hold at least 2 classes.
      num_classes: C, the number of target classes.
      lam: prior scale of PACTran-Gaussian's head; L2 weight 1 / (lam h). The release uses 10, 1, 0.1.
      max_steps: cap on the L-BFGS steps (default `_softmax_regression.MAX_STEPS`).

    Returns:
      Scalar in [0, 1]: the validation error. LOWER predicts better transfer.
    """
    return _engine.run(VALERR, features, labels, num_classes, lam=lam, max_steps=max_steps)


def linear_probe(
    features: jax.typing.ArrayLike,
    labels,
    num_classes: int,
    *,
    folds: int = 3,
    seed: int = 0,
    max_steps: int | None = None,
) -> jax.Array:
    """Cross-validated logistic-regression accuracy (TE-Bench's linear-probe baseline).

    Args:
      features: [N, D] probe features (standardised per fold with the training rows' statistics).
      labels: [N] int target labels in [0, num_classes); classes with fewer than `folds` samples are dropped.
      num_classes: C, the number of target classes.
      folds: number of stratified folds.
      seed: the `random_state` of scikit-learn's shuffled `StratifiedKFold`.
      max_steps: cap on the L-BFGS steps of each fit (default `_softmax_regression.MAX_STEPS`).

    Returns:
      Scalar in [0, 1]: the mean test accuracy over the folds. Higher predicts better transfer.
    """
    return _engine.run(PROBE, features, labels, num_classes, folds=folds, seed=seed, max_steps=max_steps)
