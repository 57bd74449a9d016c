"""Honest evaluation of the history model: leave one target out, leave one model out, ranking metrics.

Every prediction of target t is made by a model fitted without t's column (its accuracies, and its
probe scores, which are z-scored over t's own models at prediction time only); leave-one-model-out
also removes the predicted model's whole row, as for a model new to the history. Predictions and any
other scores are then compared with the held-out accuracies per target (:func:`ranking_summary`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np

from parc_jax.evaluation._history import (
    METADATA_DEPTH,
    METADATA_PARAMS,
    History,
    HistoryModel,
    ModelKey,
    fit_history,
)
from parc_jax.evaluation._summary import RANKING_METRICS, _metric
from parc_jax.evaluation._tables import key_of

Scores = Mapping[str, Mapping[ModelKey, float]]  # {target: {model: score}}


def _predict_target(model: HistoryModel, history: History, column: int) -> np.ndarray:
    """Predictions for every model of `history` on target `column`, with the target's probe scores."""
    return model.predict(
        history.models, probe_scores={p: history.probes[p][:, column] for p in model.probes}, metadata=history.metadata
    ).values


def _targets(history: History, targets: Sequence[str] | None) -> list[str]:
    if targets is None:
        return list(history.targets)
    unknown = [t for t in targets if t not in history.targets]
    if unknown:
        raise ValueError(f"target(s) {', '.join(unknown)} not in the history ({', '.join(history.targets)})")
    return list(targets)


def leave_one_target_out(
    history: History,
    *,
    targets: Sequence[str] | None = None,
    probes: Sequence[str] = (),
    metadata: Sequence[str] = (),
    alpha: float = 1.0,
) -> dict[str, dict[ModelKey, float]]:
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
        out[target] = {
            m: float(v) for m, v, a in zip(history.models, values, history.accuracy[:, column]) if math.isfinite(a)
        }
    return out


def leave_one_model_out(
    history: History,
    *,
    targets: Sequence[str] | None = None,
    probes: Sequence[str] = (),
    metadata: Sequence[str] = (),
    alpha: float = 1.0,
) -> dict[str, dict[ModelKey, float]]:
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
            model = fit_history(
                history.without(targets=[target], models=[left_out]), probes=probes, metadata=metadata, alpha=alpha
            )
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
    mean = {
        name: float(np.nanmean([e[name] for e in per_target.values()]))
        if any(math.isfinite(e[name]) for e in per_target.values())
        else math.nan
        for name in RANKING_METRICS
    }
    return {"mean": mean, "per_target": per_target}


#: Results columns added by :func:`add_history_columns`.
HISTORY_COLUMN = "history"
HISTORY_PRIOR_COLUMN = "history_prior"


def add_history_columns(
    rows: list[dict],
    history: History,
    *,
    probes: Sequence[str] = (),
    num_params: Mapping[str, float] | None = None,
    depth: Mapping[str, float] | None = None,
    alpha: float = 1.0,
) -> list[str]:
    """Adds the history model's leave-one-target-out prediction to results rows (in place); returns the columns.

    For each run r and target t of the rows, the model is fitted on `history` without t, with the
    probe scores of run r on the other targets (the rows' columns named in `probes`), and predicts
    the rows of (r, t) from their own probe scores: column `history`; with probes, also the prior
    alone (`history_prior`). Targets of the rows absent from the history are fine (nothing to leave
    out); models absent from it are predicted from metadata and probes (see
    :meth:`HistoryModel.predict`). The prior uses the metadata the history has (Params, Depth).

    Args:
      rows: results rows (`Run, Architecture, Source Dataset, Target Dataset` and method columns).
      history: the past fine-tunes (:func:`read_history`).
      probes: method columns of the rows that correct the prior.
      num_params, depth: {Architecture: value} for the rows' models the history does not describe.
      alpha: as :func:`fit_history`.
    """
    missing = [p for p in probes if any(p not in row for row in rows)]
    if missing:
        raise ValueError(
            f"history probes {', '.join(missing)} are not columns of the results (choose among the estimators scored)"
        )
    metadata = [m for m in (METADATA_PARAMS, METADATA_DEPTH) if m in history.metadata]
    given = {
        METADATA_PARAMS: {a: math.log10(v) for a, v in (num_params or {}).items() if v and v > 0},
        METADATA_DEPTH: dict(depth or {}),
    }
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((key_of(row["Run"]), key_of(row["Target Dataset"])), []).append(row)
    for (run, target), group in groups.items():
        past = _with_run_probes(history, [r for r in rows if key_of(r["Run"]) == run], probes)
        past = past.without(targets=[target])
        keys = [(key_of(r["Architecture"]), key_of(r["Source Dataset"])) for r in group]
        columns = [(HISTORY_COLUMN, probes)] + ([(HISTORY_PRIOR_COLUMN, ())] if probes else [])
        for column, used in columns:
            scores = {p: [float(r[p]) for r in group] for p in used}
            prediction = fit_history(past, probes=used, metadata=metadata, alpha=alpha).predict(
                keys, probe_scores=scores, metadata=_metadata_of(history, keys, metadata, given)
            )
            for row, value in zip(group, prediction.values):
                row[column] = float(value)
    return [c for c, _ in columns]


def _with_run_probes(history: History, rows: Sequence[dict], probes: Sequence[str]) -> History:
    """The history with the rows' probe scores (one run) as its probe matrices."""
    row_of = {m: i for i, m in enumerate(history.models)}
    col_of = {t: j for j, t in enumerate(history.targets)}
    matrices = {p: np.full(history.accuracy.shape, np.nan) for p in probes}
    for row in rows:
        i = row_of.get((key_of(row["Architecture"]), key_of(row["Source Dataset"])))
        j = col_of.get(key_of(row["Target Dataset"]))
        if i is not None and j is not None:
            for p in probes:
                matrices[p][i, j] = float(row[p])
    return dataclasses.replace(history, probes=matrices)


def _metadata_of(
    history: History, keys: Sequence[ModelKey], names: Sequence[str], given: Mapping[str, Mapping[str, float]]
) -> dict[str, np.ndarray]:
    """Metadata of each model: the history's, else `given` by architecture, else NaN."""
    row_of = {m: i for i, m in enumerate(history.models)}
    return {
        n: np.array(
            [history.metadata[n][row_of[k]] if k in row_of else given[n].get(k[0], np.nan) for k in keys], np.float64
        )
        for n in names
    }
