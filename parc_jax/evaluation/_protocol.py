"""The PARC benchmark's evaluation protocol (Bolya et al., NeurIPS 2021, Sec. 4 and 5).

Reproduces what the PARC release's `metrics.py` (`MetricEval` with `constants=['Target
Dataset']`, optionally after `add_plasticity`) prints for a results table, written with the csv
module and NumPy instead of pandas.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np

from parc_jax.evaluation._metrics import _pearson
from parc_jax.evaluation._oracle import TransferKey, read_oracle
from parc_jax.evaluation._tables import Table, key_of, read_table, to_float

logger = logging.getLogger(__name__)

#: Depth of each architecture of the PARC banks (the release's `constants.model_layers`).
RELEASE_MODEL_LAYERS: Mapping[str, int] = {
    "resnet50": 50,
    "resnet18": 18,
    "googlenet": 22,
    "alexnet": 8,
    "resnet101": 101,
}

#: Number of classes of the PARC release's datasets (its `constants.num_classes`).
RELEASE_NUM_CLASSES: Mapping[str, int] = {
    "nabird": 555,
    "oxford_pets": 37,
    "cub200": 200,
    "caltech101": 101,
    "stanford_dogs": 120,
    "voc2007": 21,
    "cifar10": 10,
    "imagenet": 1000,
}

#: Number of images of the PARC release's datasets, as its `constants.dataset_images` states them.
RELEASE_DATASET_IMAGES: Mapping[str, int] = {
    "nabird": 24633,
    "oxford_pets": 3669,
    "cub200": 5794,
    "caltech101": 2630,
    "stanford_dogs": 8580,
    "voc2007": 2501,
    "cifar10": 50000,
    "imagenet": 150000,
}

#: The release's evaluation targets (its `constants.variables['Target Dataset']`; voc2007 is not one).
RELEASE_TARGETS: tuple[str, ...] = ("cifar10", "oxford_pets", "cub200", "caltech101", "stanford_dogs", "nabird")

#: Self-supervised sources whose oracle the release's evaluation ignores (sets to -1).
RELEASE_EXCLUDED_SOURCES: tuple[str, ...] = (
    "swav_imagenet",
    "deepclusterv2_imagenet",
    "npid_imagenet",
    "moco_imagenet",
    "simclr_imagenet",
)

#: Key columns of the release's results table; one column per method follows.
RESULTS_KEY = ("Run", "Architecture", "Source Dataset", "Target Dataset")


def _oracle_for_rows(oracle: dict[TransferKey, float], rows: list[TransferKey], excluded: set[str]) -> np.ndarray:
    """The oracle accuracy of each results row; missing values (empty cells) read as 0."""
    values, missing = [], []
    for row in rows:
        if row[1] in excluded:
            values.append(-1.0)
        elif row in oracle:
            values.append(oracle[row])
        else:
            missing.append(row)
    if missing and len(missing) == sum(row[1] not in excluded for row in rows):
        raise ValueError(
            "no (Architecture, Source Dataset, Target Dataset) of the results table appears in "
            f"the oracle table (e.g. {missing[0]}, oracle has e.g. {next(iter(oracle))}); "
            "check that both tables describe the same bank"
        )
    if missing:
        raise ValueError(
            f"{len(missing)} results row(s) have no oracle accuracy, e.g. {missing[:3]}; add them "
            "to the oracle table (an empty Oracle cell excludes a transfer)"
        )
    oracle_values = np.asarray(values)
    return np.where(np.isnan(oracle_values), 0.0, oracle_values)  # the release's fillna(0)


def _method_scores(results: dict[str, list], method: str) -> np.ndarray:
    """A method column as float64; empty/NaN cells read as 0, as in the release (fillna(0))."""
    col = np.array([to_float(v, "results", method, i) for i, v in enumerate(results[method])])
    inf_rows = np.flatnonzero(np.isinf(col))
    if inf_rows.size:
        raise ValueError(
            f"results column {method!r} has infinite values (first at row {inf_rows[0]}); "
            "fix the scores or drop the method"
        )
    n_nan = int(np.isnan(col).sum())
    if n_nan:
        logger.warning("results column %r: %d missing value(s) read as 0", method, n_nan)
    return np.nan_to_num(col, nan=0.0)


def _plasticity_term(architectures: list[str], layers: Mapping[str, int]) -> np.ndarray:
    """depth / 50 per row (the release's add_plasticity with weight 1)."""
    unknown = sorted(set(architectures) - set(layers))
    if unknown:
        raise ValueError(
            f"plasticity needs the depth of architecture(s) {unknown}; pass "
            f"layers={{name: depth}} (known: {sorted(layers)})"
        )
    return np.array([layers[a] for a in architectures], dtype=np.float64) / 50.0


def _zscore(col: np.ndarray) -> np.ndarray:
    """(x - mean) / std with the sample std (ddof=1, pandas' default); a constant column -> NaN."""
    if col.size < 2 or np.all(col == col[0]):
        return np.full_like(col, np.nan)
    return (col - col.mean()) / col.std(ddof=1)


def _unique(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))  # order of first appearance, as pandas' unique()


def parc_protocol(
    results_csv: Table,
    oracle_csv: Table,
    *,
    plasticity: bool,
    layers: Mapping[str, int] | None = None,
    excluded_sources: Sequence[str] = RELEASE_EXCLUDED_SOURCES,
) -> dict[str, dict[str, float]]:
    """Scores each method of a results table against fine-tuned accuracies, as the PARC paper.

    For every run r and target dataset t (the transfers of one probe sample onto one target),

      P_{m,r,t} = 100 * pearson(score_m, oracle) over the bank's models with oracle > 0,

    (targets with fewer than 2 rows in a run are skipped), then P_{m,r} = mean_t P_{m,r,t} and the
    result is mean_r P_{m,r} and its population variance (ddof=0) over runs. With `plasticity`
    (the paper's "+ plasticity" rows), each method column is first z-scored over the whole table
    (sample std, ddof=1) and depth/50 of the row's architecture is added, favouring deeper models.
    Empty cells read as 0 (so an empty oracle drops the row), and oracles of
    `excluded_sources` are ignored, both as in the release.

    Args:
      results_csv: the results table: a CSV path, a list of row dicts or a dict of columns, with
        columns `Run, Architecture, Source Dataset, Target Dataset` and one column per method.
      oracle_csv: the ground truth, same forms, columns `Architecture, Source Dataset,
        Target Dataset, Oracle` (fine-tuned accuracy); one row per results transfer.
      plasticity: add the release's depth term.
      layers: depth of each architecture for the plasticity term, replacing the release's
        `RELEASE_MODEL_LAYERS` (resnet50 50, resnet18 18, googlenet 22, alexnet 8, resnet101 101).
      excluded_sources: source datasets whose oracle is ignored; the release's self-supervised
        sources by default, `()` to keep all.

    Returns:
      {method: {"mean": float, "variance": float}} in the results table's column order; `nan`
      for a method that is constant where a correlation is taken.

    Raises:
      ValueError: unreadable tables, missing columns, no method column, results rows without
        an oracle row, duplicate oracle rows, non-numeric or infinite scores, an architecture
        without a depth when `plasticity`, or a (run, target) with fewer than 2 positive oracles.
    """
    results = read_table(results_csv, "results", RESULTS_KEY)
    oracle_table = read_oracle(oracle_csv)
    methods = [c for c in results if c not in RESULTS_KEY]
    if not methods:
        raise ValueError(
            f"results table has no method column; expected {list(RESULTS_KEY)} followed by one "
            "column of scores per method"
        )
    runs, archs, sources, targets = ([key_of(v) for v in results[c]] for c in RESULTS_KEY)
    oracle = _oracle_for_rows(oracle_table, list(zip(archs, sources, targets)), set(excluded_sources))
    scores = {m: _method_scores(results, m) for m in methods}
    if plasticity:
        depth = _plasticity_term(archs, RELEASE_MODEL_LAYERS if layers is None else layers)
        scores = {m: _zscore(s) + depth for m, s in scores.items()}

    runs_arr, targets_arr = np.array(runs), np.array(targets)
    per_run = {m: [] for m in methods}
    for run in _unique(runs):
        per_target = {m: [] for m in methods}
        for target in _unique(targets):
            rows = (runs_arr == run) & (targets_arr == target)
            if rows.sum() < 2:
                continue
            keep = rows & (oracle > 0)
            if keep.sum() < 2:
                raise ValueError(
                    f"run {run}, target {target!r}: {int(keep.sum())} model(s) with a positive "
                    "oracle accuracy; a correlation needs at least 2"
                )
            for m in methods:
                x = scores[m][keep]
                r = _pearson(x, oracle[keep]) if np.isfinite(x).all() else np.nan
                per_target[m].append(100.0 * r)
        if not per_target[methods[0]]:
            raise ValueError(f"run {run}: no target dataset has 2 or more results rows")
        for m in methods:
            per_run[m].append(np.mean(per_target[m]))
    return {m: {"mean": float(np.mean(v)), "variance": float(np.var(v))} for m, v in per_run.items()}
