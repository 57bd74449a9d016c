"""Honest evaluation of the history model: leave one target out, leave one model out, ranking metrics.

Every prediction of target t is made by a model fitted without t's column (its accuracies, and its
probe scores, which are z-scored over t's own models at prediction time only); leave-one-model-out
also removes the predicted model's whole row, as for a model new to the history. Predictions and any
other scores are then compared with the held-out accuracies per target (:func:`ranking_summary`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from parc_jax.evaluation._history import History, HistoryModel, ModelKey, fit_history
from parc_jax.evaluation._summary import RANKING_METRICS, _metric

Scores = Mapping[str, Mapping[ModelKey, float]]  # {target: {model: score}}


def _predict_target(model: HistoryModel, history: History, column: int) -> np.ndarray:
    """Predictions for every model of `history` on target `column`, with the target's probe scores."""
    return model.predict(history.models, probe_scores={p: history.probes[p][:, column] for p in model.probes},
                         metadata=history.metadata).values


def _targets(history: History, targets: Sequence[str] | None) -> list[str]:
    if targets is None:
        return list(history.targets)
    unknown = [t for t in targets if t not in history.targets]
    if unknown:
        raise ValueError(f"target(s) {', '.join(unknown)} not in the history ({', '.join(history.targets)})")
    return list(targets)


def leave_one_target_out(history: History, *, targets: Sequence[str] | None = None, probes: Sequence[str] = (),
                         metadata: Sequence[str] = (), alpha: float = 1.0) -> dict[str, dict[ModelKey, float]]:
    """Predicts each target from the others: {target: {model: prediction}} for its fine-tuned models.

    Args:
      history: the past fine-tunes (and probe scores).
      targets: the targets to predict (default: all).
      probes, metadata, alpha: as :func:`parc_jax.evaluation.fit_history`.
    """
    out = {}
    for target in _targets(history, targets):
        column = history.targets.index(target)
        model = fit_history(history.without(targets=[target]), probes=probes, metadata=metadata, alpha=alpha)
        values = _predict_target(model, history, column)
        out[target] = {m: float(v) for m, v, a in zip(history.models, values, history.accuracy[:, column])
                       if math.isfinite(a)}
    return out


def leave_one_model_out(history: History, *, targets: Sequence[str] | None = None, probes: Sequence[str] = (),
                        metadata: Sequence[str] = (), alpha: float = 1.0) -> dict[str, dict[ModelKey, float]]:
    """Predicts each (model, target) with both the target and the model's whole row left out.

    The prediction of a model new to the history: from its metadata and probe score alone (without
    either, every model gets the same prediction and no ranking metric is defined).
    """
    out = {}
    for target in _targets(history, targets):
        column = history.targets.index(target)
        out[target] = {}
        for row in np.flatnonzero(np.isfinite(history.accuracy[:, column])):
            left_out = history.models[row]
            model = fit_history(history.without(targets=[target], models=[left_out]), probes=probes,
                                metadata=metadata, alpha=alpha)
            out[target][left_out] = float(_predict_target(model, history, column)[row])
    return out


def ranking_summary(scores: Scores, history: History) -> dict:
    """Per-target ranking metrics of scores against the history's accuracies, and their mean over targets.

    For each target, over its models with a fine-tuned accuracy and a finite score (at least 2):
    the metrics of :data:`parc_jax.evaluation.RANKING_METRICS` (Pearson x 100, Kendall's tau-b,
    weighted tau, top-1 relative accuracy in %, regret@1 in accuracy points).

    Returns:
      {"mean": {metric: mean over targets}, "per_target": {target: {metric: value, "models": n}}}.
    """
    per_target = {}
    for target, by_model in scores.items():
        column = history.targets.index(target)
        pairs = [(by_model.get(m, math.nan), a) for m, a in zip(history.models, history.accuracy[:, column])]
        pairs = np.array([p for p in pairs if math.isfinite(p[0]) and math.isfinite(p[1])]).reshape(-1, 2)
        entry = {"models": len(pairs)}
        for name, (fn, scale) in RANKING_METRICS.items():
            entry[name] = _metric(fn, pairs[:, 0], pairs[:, 1]) * scale if len(pairs) >= 2 else math.nan
        per_target[target] = entry
    mean = {name: float(np.nanmean([e[name] for e in per_target.values()]))
            if any(math.isfinite(e[name]) for e in per_target.values()) else math.nan for name in RANKING_METRICS}
    return {"mean": mean, "per_target": per_target}
