"""The benchmark's evaluation of a results table: the PARC protocol plus ranking metrics.

:func:`evaluate` gives the paper's per-target Pearson x 100 (:func:`parc_jax.evaluation.parc_protocol`,
with and without the plasticity term) and, per (run, target), Kendall's tau-b, weighted tau, top-1
relative accuracy and regret@1 (:func:`ranking_metrics`), averaged over targets, then over runs.
"""

from __future__ import annotations

import collections
import csv
import logging
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from parc_jax.evaluation._metrics import kendall_tau, pearson, regret_at_k, top1_relative_accuracy, weighted_tau
from parc_jax.evaluation._oracle import read_oracle
from parc_jax.evaluation._protocol import RELEASE_EXCLUDED_SOURCES, RELEASE_MODEL_LAYERS, RESULTS_KEY, parc_protocol
from parc_jax.evaluation._tables import key_of

log = logging.getLogger(__name__)

#: Ranking metrics computed per (run, target): name -> (function of (scores, accuracies), scale).
RANKING_METRICS: dict[str, tuple[Callable, float]] = {
    "pearson": (pearson, 100.0),
    "kendall_tau": (kendall_tau, 1.0),
    "weighted_tau": (weighted_tau, 1.0),
    "top1_relative_accuracy": (top1_relative_accuracy, 100.0),
    "regret_at_1": (regret_at_k, 1.0),
}


def _read_results(path) -> tuple[list[dict], list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        methods = [c for c in reader.fieldnames if c not in RESULTS_KEY]
    return rows, methods


def _cell(value: str) -> float:
    """A results cell as float; empty/NaN reads as 0, as the release's `fillna(0)`."""
    number = float(value) if value not in ("", None) else math.nan
    return 0.0 if math.isnan(number) else number


def ranking_metrics(results_csv, oracle_csv, *, excluded_sources: Sequence[str] = RELEASE_EXCLUDED_SOURCES) -> dict:
    """Per (run, target) ranking metrics of every method of a results table.

    For each run r and target t, over the models with a positive oracle accuracy (sources in
    `excluded_sources` left out, empty scores read as 0, both as `parc_protocol`):
    Pearson x 100, Kendall's tau-b, weighted tau (Vigna 2015), top-1 relative accuracy in % and
    regret@1 in the oracle's units. A metric is averaged over the targets of a run, then its mean
    and population std over runs are reported.

    Returns:
      {"summary": {method: {metric: {"mean", "std"}}},
       "per_target": {method: {target: {metric: mean over runs}}},
       "per_run_target": [{"run", "target", "models", method: {metric: value}}]}
    """
    rows, methods = _read_results(results_csv)
    oracle = read_oracle(oracle_csv)
    excluded = set(excluded_sources)
    groups: dict[tuple[str, str], list[dict]] = collections.defaultdict(list)
    for row in rows:
        groups[(key_of(row["Run"]), key_of(row["Target Dataset"]))].append(row)
    per_run_target = []
    for (run, target), group in groups.items():
        keep = []
        for row in group:
            key = (key_of(row["Architecture"]), key_of(row["Source Dataset"]), target)
            acc = oracle.get(key, math.nan)
            if key[1] not in excluded and acc > 0:
                keep.append((row, acc))
        entry = {"run": run, "target": target, "models": len(keep)}
        if len(keep) >= 2:
            accuracies = np.array([acc for _, acc in keep])
            for method in methods:
                scores = np.array([_cell(row[method]) for row, _ in keep])
                entry[method] = {
                    name: _metric(fn, scores, accuracies) * scale for name, (fn, scale) in RANKING_METRICS.items()
                }
        per_run_target.append(entry)
    scored = [e for e in per_run_target if e["models"] >= 2]
    if not scored:
        raise ValueError("no (run, target) of the results has 2 or more models with an oracle accuracy")
    summary, per_target = {}, {}
    runs = list(dict.fromkeys(e["run"] for e in scored))
    targets = list(dict.fromkeys(e["target"] for e in scored))
    for method in methods:
        summary[method], per_target[method] = {}, {t: {} for t in targets}
        for name in RANKING_METRICS:
            by_run = [np.mean([e[method][name] for e in scored if e["run"] == r]) for r in runs]
            summary[method][name] = {"mean": float(np.mean(by_run)), "std": float(np.std(by_run))}
            for t in targets:
                per_target[method][t][name] = float(np.mean([e[method][name] for e in scored if e["target"] == t]))
    return {"summary": summary, "per_target": per_target, "per_run_target": per_run_target}


def _metric(fn, scores: np.ndarray, accuracies: np.ndarray) -> float:
    try:
        return fn(scores, accuracies)
    except ValueError:
        return math.nan


def evaluate(
    results_csv,
    oracle_csv,
    *,
    layers: Mapping[str, int] | None = None,
    excluded_sources: Sequence[str] = RELEASE_EXCLUDED_SOURCES,
) -> dict:
    """The PARC protocol (with and without plasticity) and the ranking metrics of a results table.

    Args:
      results_csv: a results table in the PARC release's format.
      oracle_csv: the oracle table.
      layers: depth of each Architecture for the plasticity term (None: the release's depths).
      excluded_sources: sources whose oracle is ignored (the release's self-supervised ones).

    Returns:
      {"pearson": parc_protocol(plasticity=False), "pearson_plasticity": parc_protocol(
      plasticity=True) or None when some architecture has no depth, plus `ranking_metrics`'
      "summary", "per_target" and "per_run_target"}.
    """
    out = {"pearson": parc_protocol(results_csv, oracle_csv, plasticity=False, excluded_sources=excluded_sources)}
    rows, _ = _read_results(results_csv)
    depths = RELEASE_MODEL_LAYERS if layers is None else layers
    unknown = sorted({key_of(r["Architecture"]) for r in rows} - set(depths))
    if unknown:
        log.warning("no plasticity results: no depth for architecture(s) %s", ", ".join(unknown[:5]))
        out["pearson_plasticity"] = None
    else:
        out["pearson_plasticity"] = parc_protocol(
            results_csv, oracle_csv, plasticity=True, layers=depths, excluded_sources=excluded_sources
        )
    out.update(ranking_metrics(results_csv, oracle_csv, excluded_sources=excluded_sources))
    return out
