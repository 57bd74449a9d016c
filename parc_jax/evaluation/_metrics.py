"""Agreement between transferability scores and fine-tuned accuracies over a model bank.

Each metric takes `scores` (one estimator score per model, higher = predicted better) and
`accuracies` (the ground-truth fine-tuned accuracy of the same models, in the same order) and
returns a Python float. Everything runs in NumPy float64: a bank has at most thousands of models,
so these are cheap and exactness matters more than speed.

The correlation metrics follow SciPy's conventions (`scipy.stats.pearsonr`, `spearmanr`,
`kendalltau`, `weightedtau`): a constant input has no defined correlation and gives `nan`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

_BLOCK = 512  # rows of the pairwise sign matrices held in memory at once


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
        raise ValueError(
            f"scores and accuracies must have the same length, got {x.size} and {y.size}"
        )
    if x.size < 2:
        raise ValueError(f"need at least 2 models to compare rankings, got {x.size}")
    return x, y


def _rankdata(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties given their average rank (`scipy.stats.rankdata(method='average')`).

    With `s` the sorted values, the tie group of `x_i` occupies positions
    [searchsorted(s, x_i, 'left'), searchsorted(s, x_i, 'right')), so its average 1-based rank is
    (left + right + 1) / 2.
    """
    s = np.sort(x)
    left = np.searchsorted(s, x, side="left")
    right = np.searchsorted(s, x, side="right")
    return (left + right + 1) / 2.0


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    xm = x - x.mean()
    ym = y - y.mean()
    xm /= np.linalg.norm(xm)
    ym /= np.linalg.norm(ym)
    return float(np.clip(np.dot(xm, ym), -1.0, 1.0))


def pearson(scores: ArrayLike, accuracies: ArrayLike) -> float:
    """Pearson's linear correlation coefficient.

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
    """Spearman's rank correlation: Pearson's r between the average ranks (ties share a rank).

    Args:
      scores: [M] estimator scores, one per model.
      accuracies: [M] ground-truth accuracies of the same models.

    Returns:
      rho in [-1, 1], as `scipy.stats.spearmanr`; `nan` if either input is constant.

    Raises:
      ValueError: as `pearson`.
    """
    x, y = _pair(scores, accuracies)
    return _pearson(_rankdata(x), _rankdata(y))


def _weighted_concordance(x: np.ndarray, y: np.ndarray, w: np.ndarray | None) -> float:
    """Kendall-type correlation of x and y with pair weights.

    tau_w = sum_{i<j} w_ij s_ij / sqrt(sum_{i<j} w_ij [x_i != x_j] * sum_{i<j} w_ij [y_i != y_j]).
    s_ij = sign(x_i - x_j) sign(y_i - y_j); w_ij = w_i + w_j (additive weights), or 1 if `w` is
    None. Pairs tied in x or y contribute 0 to the numerator and are left out of the matching
    normalizer, which makes this Kendall's tau-b for unit weights. Computed over blocks of rows of
    the pairwise matrices, O(M^2) time and O(_BLOCK M) memory.
    """
    n = x.size
    num = den_x = den_y = 0.0
    for start in range(0, n, _BLOCK):
        rows = np.arange(start, min(start + _BLOCK, n))
        upper = rows[:, None] < np.arange(n)[None, :]  # each unordered pair once
        sx = np.sign(x[rows, None] - x[None, :])
        sy = np.sign(y[rows, None] - y[None, :])
        wij = upper.astype(np.float64) if w is None else upper * (w[rows, None] + w[None, :])
        num += np.sum(wij * sx * sy)
        den_x += np.sum(wij * (sx != 0))
        den_y += np.sum(wij * (sy != 0))
    if den_x == 0.0 or den_y == 0.0:
        return float("nan")
    return float(np.clip(num / np.sqrt(den_x) / np.sqrt(den_y), -1.0, 1.0))


def kendall_tau(scores: ArrayLike, accuracies: ArrayLike) -> float:
    """Kendall's tau-b, as `scipy.stats.kendalltau` (its default variant).

    tau_b = (P - Q) / sqrt((n0 - n1)(n0 - n2)), with P and Q the numbers of concordant and
    discordant pairs, n0 = M(M-1)/2 and n1, n2 the numbers of pairs tied in scores and in
    accuracies (Kendall 1945, "The treatment of ties in ranking problems").

    Args:
      scores: [M] estimator scores, one per model.
      accuracies: [M] ground-truth accuracies of the same models.

    Returns:
      tau_b in [-1, 1]; `nan` if either input is constant.

    Raises:
      ValueError: as `pearson`.
    """
    x, y = _pair(scores, accuracies)
    return _weighted_concordance(x, y, None)


def _hyperbolic_weights(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """w_i = 1 / (r_i + 1), r_i = decreasing lexicographic rank of (primary_i, secondary_i).

    r = 0 is the element with the largest primary value (ties broken by the larger secondary
    value; exact ties by the larger index, as SciPy's stable lexsort reversed).
    """
    order = np.lexsort((secondary, primary))[::-1]
    rank = np.empty(primary.size, dtype=np.float64)
    rank[order] = np.arange(primary.size)
    return 1.0 / (rank + 1.0)


def weighted_tau(scores: ArrayLike, accuracies: ArrayLike) -> float:
    """Vigna's weighted Kendall tau, identical to `scipy.stats.weightedtau` with its defaults.

    tau_w = sum_{i<j} w_ij s_ij / sqrt(sum_{i<j} w_ij [x_i != x_j] * sum_{i<j} w_ij [y_i != y_j]),
    s_ij = sign(x_i - x_j) sign(y_i - y_j), with additive weights w_ij = w_i + w_j and the
    hyperbolic weigher w_i = 1 / (r_i + 1) of the element's rank r_i (0 = best). As SciPy's
    `rank=True`, the result is the mean of tau_w with ranks taken by decreasing (scores,
    accuracies) and by decreasing (accuracies, scores): disagreements among the top models of
    either ranking weigh most (Vigna, "A weighted correlation index for rankings with ties",
    WWW 2015). Used as a ranking metric for transferability in e.g. Agostinelli et al. (ECCV 2022).

    Args:
      scores: [M] estimator scores, one per model.
      accuracies: [M] ground-truth accuracies of the same models.

    Returns:
      tau_w in [-1, 1]; `nan` if either input is constant.

    Raises:
      ValueError: as `pearson`.
    """
    x, y = _pair(scores, accuracies)
    by_x = _weighted_concordance(x, y, _hyperbolic_weights(x, y))
    by_y = _weighted_concordance(x, y, _hyperbolic_weights(y, x))
    return (by_x + by_y) / 2.0


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


def regret_at_k(
    scores: ArrayLike, accuracies: ArrayLike, k: int = 1, *, relative: bool = False
) -> float:
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
