"""Trivial baselines of the benchmark: what a ranking is worth without looking at the target.

Columns added to a results table beside the estimators' scores:

* ``baseline_log10_params``: log10 of the model's parameter count (bigger is better),
* ``baseline_depth``: the model's depth in layers (the PARC release's plasticity heuristic alone),
* ``baseline_oracle_other_targets``: the model's mean fine-tuned accuracy on the oracle's other
  targets (:func:`parc_jax.evaluation.leave_target_out_accuracy`, the static ranker),
* ``baseline_learned_heuristic``: the PARC release's learned heuristic, fitted on the other targets.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping

import numpy as np

from parc_jax.evaluation._heuristic import learned_heuristic
from parc_jax.evaluation._oracle import TransferKey, leave_target_out_accuracy
from parc_jax.evaluation._tables import Table, key_of

log = logging.getLogger(__name__)

BASELINE_PARAMS = "baseline_log10_params"
BASELINE_DEPTH = "baseline_depth"
BASELINE_OTHER_TARGETS = "baseline_oracle_other_targets"
BASELINE_LEARNED_HEURISTIC = "baseline_learned_heuristic"


def add_baselines(
    rows: list[dict],
    oracle: Mapping[TransferKey, float],
    *,
    num_params: Mapping[str, int] | None = None,
    depth: Mapping[str, int] | None = None,
    heuristic_oracle: Table | None = None,
) -> list[str]:
    """Adds the trivial baseline columns to results rows (in place); returns their names.

    * `baseline_log10_params`: log10 of the architecture's parameter count (bigger is better),
    * `baseline_depth`: the architecture's depth (layers), the release's plasticity heuristic alone,
    * `baseline_oracle_other_targets`: the model's mean fine-tuned accuracy on the other targets
      of the oracle table (:func:`leave_target_out_accuracy`),
    * `baseline_learned_heuristic` (with `heuristic_oracle`, the oracle table): the PARC release's
      learned heuristic, fitted on the other targets' rows (:func:`learned_heuristic`); left out when
      no row has the release's meta-features.

    A column is left out when some architecture has no value (e.g. no parameter counts for the
    PARC release's models); a model with no other target gets NaN (an empty cell).
    """
    added = []
    archs = {row["Architecture"] for row in rows}
    for column, table, transform in ((BASELINE_PARAMS, num_params, math.log10), (BASELINE_DEPTH, depth, float)):
        if table is None:
            continue
        missing = sorted(archs - set(table))
        if missing:
            log.warning("baseline %s left out: no value for %s", column, ", ".join(missing[:5]))
            continue
        for row in rows:
            row[column] = transform(table[row["Architecture"]])
        added.append(column)
    for row in rows:
        row[BASELINE_OTHER_TARGETS] = leave_target_out_accuracy(
            oracle, key_of(row["Architecture"]), key_of(row["Source Dataset"]), key_of(row["Target Dataset"])
        )
    added.append(BASELINE_OTHER_TARGETS)
    if heuristic_oracle is not None:
        transfers = [(row["Architecture"], row["Source Dataset"], row["Target Dataset"]) for row in rows]
        try:
            predictions = learned_heuristic(heuristic_oracle, transfers)
        except ValueError as error:  # too few oracle rows with the release's meta-features to fit it
            log.warning("baseline %s left out: %s", BASELINE_LEARNED_HEURISTIC, error)
            predictions = np.full(len(transfers), np.nan)
        if np.isfinite(predictions).any():
            for row, value in zip(rows, predictions):
                row[BASELINE_LEARNED_HEURISTIC] = float(value)
            added.append(BASELINE_LEARNED_HEURISTIC)
    return added
