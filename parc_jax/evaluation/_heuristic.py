"""The PARC release's learned heuristic: a linear regression of fine-tuned accuracy on dataset and
architecture meta-features (Bolya et al., NeurIPS 2021, Sec. 5 "Learned Heuristic").

The meta-features of a transfer (architecture a, source dataset s, target dataset t) are

    x = (C_s, C_t, I_s, I_t, L_a, log C_s, log C_t, log I_s, log I_t, log L_a),

with C the number of classes, I the number of images of a dataset and L the depth of an
architecture (the release's `constants.py`). Ordinary least squares with an intercept fits
oracle accuracy ~ w . x + w_0; the prediction is w . x (the release's `predict` drops w_0, which shifts
every prediction alike). Held out as a baseline for target t, the fit uses only the oracle rows of the
other targets, so that the heuristic never sees the accuracies it is asked to predict. The design is
ill-conditioned (condition number ~2.5e6), so the columns are standardised before the solve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from parc_jax.evaluation._oracle import read_oracle
from parc_jax.evaluation._protocol import RELEASE_DATASET_IMAGES, RELEASE_MODEL_LAYERS, RELEASE_NUM_CLASSES
from parc_jax.evaluation._tables import Table, key_of

Transfer = tuple[str, str, str]  # (architecture, source dataset, target dataset)


def heuristic_features(
    transfer: Transfer,
    *,
    num_classes: Mapping[str, int] = RELEASE_NUM_CLASSES,
    dataset_images: Mapping[str, int] = RELEASE_DATASET_IMAGES,
    layers: Mapping[str, int] = RELEASE_MODEL_LAYERS,
) -> np.ndarray | None:
    """The 10 meta-features of one transfer, or None when a dataset or architecture is not in the tables."""
    architecture, source, target = transfer
    try:
        raw = [num_classes[source], num_classes[target], dataset_images[source], dataset_images[target]]
        raw.append(layers[architecture])
    except KeyError:
        return None
    raw = np.asarray(raw, np.float64)
    return np.concatenate([raw, np.log(raw)])


def _oracle_rows(oracle_csv: Table) -> tuple[list[Transfer], np.ndarray]:
    oracle = read_oracle(oracle_csv)
    return list(oracle), np.array(list(oracle.values()), np.float64)


def _least_squares(design: np.ndarray, accuracy: np.ndarray) -> tuple[np.ndarray, float]:
    """OLS with an intercept on standardised columns; (w, w_0) on the original scale."""
    mean, std = design.mean(axis=0), design.std(axis=0)
    if np.any(std == 0):
        raise ValueError(
            "the learned heuristic needs every meta-feature to vary over the fitted oracle rows (at least two "
            "source datasets, two other targets and two architectures)"
        )
    scaled = np.column_stack([(design - mean) / std, np.ones(len(design))])
    solution, *_ = np.linalg.lstsq(scaled, accuracy, rcond=None)
    weights = solution[:-1] / std
    return weights, float(solution[-1] - weights @ mean)


def fit_learned_heuristic(
    oracle_csv: Table, *, targets: Sequence[str] | None = None, **tables
) -> tuple[np.ndarray, float]:
    """Fit the learned heuristic on the oracle rows of `targets` (all by default).

    Args:
      oracle_csv: the oracle table (a CSV path, row dicts or columns: Architecture, Source Dataset,
        Target Dataset, Oracle). Rows without meta-features or with an empty Oracle are skipped.
      targets: target datasets whose rows are fitted.
      **tables: `num_classes`, `dataset_images`, `layers` replacing the release's tables.

    Returns:
      (w [10], w_0): accuracy ~ w . x + w_0 over the meta-features x of `heuristic_features`.

    Raises:
      ValueError: fewer rows with meta-features than coefficients, or a meta-feature constant over them.
    """
    return _fit(*_oracle_rows(oracle_csv), targets, tables)


def _fit(transfers: list[Transfer], accuracy: np.ndarray, targets, tables) -> tuple[np.ndarray, float]:
    keep = [
        (x, a)
        for transfer, a in zip(transfers, accuracy)
        if (targets is None or transfer[2] in targets)
        and np.isfinite(a)
        and (x := heuristic_features(transfer, **tables)) is not None
    ]
    if len(keep) < 11:
        raise ValueError(
            f"the learned heuristic has 11 coefficients but only {len(keep)} oracle row(s) have meta-features "
            f"(known datasets: {', '.join(tables.get('num_classes', RELEASE_NUM_CLASSES))})"
        )
    design, values = (np.array(column) for column in zip(*keep))
    return _least_squares(design, values)


def learned_heuristic(
    oracle_csv: Table,
    transfers: Sequence[Transfer],
    *,
    fit_targets: Sequence[str] | None = None,
    **tables,
) -> np.ndarray:
    """The learned heuristic's prediction for each transfer, fitted without the transfer's own target.

    For a transfer onto target t the heuristic is fitted on the oracle rows whose target is not t
    (and is in `fit_targets`, if given), then evaluated as w . x (intercept dropped, as the release).

    Args:
      oracle_csv: the oracle table (see `fit_learned_heuristic`).
      transfers: (architecture, source dataset, target dataset) of each row to predict.
      fit_targets: target datasets whose oracle rows may be fitted (default: all of the oracle's).
      **tables: `num_classes`, `dataset_images`, `layers` replacing the release's tables.

    Returns:
      [len(transfers)] float64 predictions; NaN for a transfer without meta-features.
    """
    oracle_transfers, accuracy = _oracle_rows(oracle_csv)
    if fit_targets is None:
        fit_targets = sorted({t for _, _, t in oracle_transfers})
    fits: dict[str, np.ndarray] = {}
    predictions = np.full(len(transfers), np.nan)
    for i, transfer in enumerate(transfers):
        transfer = tuple(key_of(v) for v in transfer)
        x = heuristic_features(transfer, **tables)
        if x is None:
            continue
        target = transfer[2]
        if target not in fits:
            others = [t for t in fit_targets if t != target]
            fits[target] = _fit(oracle_transfers, accuracy, others, tables)[0]
        predictions[i] = x @ fits[target]
    return predictions
