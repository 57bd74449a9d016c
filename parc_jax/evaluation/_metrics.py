"""Agreement between transferability scores and fine-tuned accuracies over a model bank.

Each metric takes `scores` (one estimator score per model, higher = predicted better) and
`accuracies` (the ground-truth fine-tuned accuracy of the same models, in the same order) and
returns a Python float, in float64. The correlations are SciPy's (`scipy.stats.pearsonr`,
`spearmanr`, `kendalltau`, `weightedtau`); a constant input has no defined correlation and gives
`nan`. The top-1 metrics are defined here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.stats
from numpy.typing import ArrayLike


def _pair(scores: ArrayLike, accuracies: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validates and converts the two inputs to float64 vectors of equal length >= 2."""
    out = []
    for name, value in (("scores", scores), ("accuracies", accuracies)):
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name} must be a sequence of numbers ({err})") from None
        if arr.ndim != 1:
            raise ValueError(f"{name} must be 1-D (one value per model), got shape {arr.shape}")
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise ValueError(
                f"{name} has {bad.size} non-finite value(s) (NaN/inf), first at index {bad[0]}: "
                "drop those models or fix their values"
            )
        out.append(arr)
    x, y = out
    if x.shape != y.shape:
        raise ValueError(f"scores and accuracies must have the same length, got {x.size} and {y.size}")
    if x.size < 2:
        raise ValueError(f"need at least 2 models to compare rankings, got {x.size}")
    return x, y


def _constant(x: np.ndarray) -> bool:
    return bool(np.all(x == x[0]))


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """`scipy.stats.pearsonr`'s r; `nan` (without SciPy's warning) when either input is constant."""
    if _constant(x) or _constant(y):
        return float("nan")
    return float(scipy.stats.pearsonr(x, y).statistic)


def pearson(scores: ArrayLike, accuracies: ArrayLike) -> float:
    """Pearson's linear correlation coefficient (`scipy.stats.pearsonr`).

    r = sum_i (x_i - mean x)(y_i - mean y) / sqrt(sum_i (x_i - mean x)^2 sum_i (y_i - mean y)^2),
    with x = scores and y = accuracies. The PARC benchmark (Bolya et al., NeurIPS 2021, Sec. 4)
    reports 100 r per target dataset; see `parc_protocol`.

    Args:
      scores: [M] estimator scores, one per model.
      accuracies: [M] ground-truth accuracies of the same models.

    Returns:
      r in [-1, 1]; `nan` if either input is constant.

    Raises:
      ValueError: inputs not 1-D, of different lengths, shorter than 2, or not finite.
    """
    return _pearson(*_pair(scores, accuracies))


def spearman(scores: ArrayLike, accuracies: ArrayLike) -> float:
    """Spearman's rank correlation (`scipy.stats.spearmanr`): Pearson's r between average ranks.

    Returns:
      rho in [-1, 1]; `nan` if either input is constant.

    Raises:
      ValueError: as `pearson`.
    """
    x, y = _pair(scores, accuracies)
    if _constant(x) or _constant(y):
        return float("nan")
    return float(scipy.stats.spearmanr(x, y).statistic)


def kendall_tau(scores: ArrayLike, accuracies: ArrayLike) -> float:
    """Kendall's tau-b (`scipy.stats.kendalltau`, its default variant).

    tau_b = (P - Q) / sqrt((n0 - n1)(n0 - n2)), with P and Q the numbers of concordant and
    discordant pairs, n0 = M(M-1)/2 and n1, n2 the numbers of pairs tied in scores and in
    accuracies (Kendall 1945, "The treatment of ties in ranking problems").

    Returns:
      tau_b in [-1, 1]; `nan` if either input is constant.

    Raises:
      ValueError: as `pearson`.
    """
    x, y = _pair(scores, accuracies)
    if _constant(x) or _constant(y):
        return float("nan")
    return float(scipy.stats.kendalltau(x, y).statistic)


def weighted_tau(scores: ArrayLike, accuracies: ArrayLike) -> float:
    """Vigna's weighted Kendall tau (`scipy.stats.weightedtau` with its defaults).

    tau_w = sum_{i<j} w_ij s_ij / sqrt(sum_{i<j} w_ij [x_i != x_j] * sum_{i<j} w_ij [y_i != y_j]),
    s_ij = sign(x_i - x_j) sign(y_i - y_j), with additive weights w_ij = w_i + w_j and the
    hyperbolic weigher w_i = 1 / (r_i + 1) of the element's rank r_i (0 = best), averaged over the
    ranks by decreasing scores and by decreasing accuracies: disagreements among the top models of
    either ranking weigh most (Vigna, "A weighted correlation index for rankings with ties", WWW
    2015). The metric of SFDA's and later transferability benchmarks.

    Returns:
      tau_w in [-1, 1]; `nan` if either input is constant.

    Raises:
      ValueError: as `pearson`.
    """
    x, y = _pair(scores, accuracies)
    if _constant(x) or _constant(y):
        return float("nan")
    return float(scipy.stats.weightedtau(x, y).statistic)


def _top_k(x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k best-scored models; ties in score broken pessimistically (lower y first)."""
    return np.lexsort((y, -x))[:k]


def _check_k(k: int, n: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise ValueError(f"k must be an integer in [1, {n}] (the number of models), got {k!r}")


def top1_relative_accuracy(scores: ArrayLike, accuracies: ArrayLike) -> float:
    """Accuracy of the model the scores rank first, as a fraction of the best accuracy.

    rel@1 = y[argmax x] / max y, a fraction (1.0 = the estimator picked the best model; multiply
    by 100 for a percentage). When several models share the top score, the one with the lowest
    accuracy counts (pessimistic tie-breaking: a constant estimator gets no credit).

    Args:
      scores: [M] estimator scores, one per model.
      accuracies: [M] ground-truth accuracies of the same models; the best must be > 0.

    Returns:
      The relative accuracy, <= 1.

    Raises:
      ValueError: as `pearson`, or if the best accuracy is not positive.
    """
    x, y = _pair(scores, accuracies)
    best = y.max()
    if best <= 0:
        raise ValueError(f"relative accuracy needs a positive best accuracy, got {best}")
    return float(y[_top_k(x, y, 1)[0]] / best)


def regret_at_k(scores: ArrayLike, accuracies: ArrayLike, k: int = 1, *, relative: bool = False) -> float:
    """Regret of choosing among the k models the scores rank highest.

    regret@k = max y - max_{i in top-k(x)} y_i: how much accuracy is lost by fine-tuning the k
    best-scored models instead of all of them. Absolute (in the accuracies' own units, e.g.
    percentage points) by default; with `relative=True` divided by max y (a fraction). Ties in
    score at the cut-off are broken pessimistically (lowest accuracy first). regret@M = 0.

    Args:
      scores: [M] estimator scores, one per model.
      accuracies: [M] ground-truth accuracies of the same models.
      k: how many top-scored models are fine-tuned, 1 <= k <= M.
      relative: divide by the best accuracy (which must then be > 0).

    Returns:
      The regret, >= 0.

    Raises:
      ValueError: as `pearson`, a bad `k`, or `relative` with a non-positive best accuracy.
    """
    x, y = _pair(scores, accuracies)
    _check_k(k, x.size)
    best = y.max()
    regret = best - y[_top_k(x, y, int(k))].max()
    if not relative:
        return float(regret)
    if best <= 0:
        raise ValueError(f"relative regret needs a positive best accuracy, got {best}")
    return float(regret / best)


METRICS: dict[str, Callable[[ArrayLike, ArrayLike], float]] = {
    "pearson": pearson,
    "spearman": spearman,
    "kendall_tau": kendall_tau,
    "weighted_tau": weighted_tau,
    "top1_relative_accuracy": top1_relative_accuracy,
    "regret_at_1": regret_at_k,
}
