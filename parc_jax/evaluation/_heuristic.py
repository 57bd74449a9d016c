"""The PARC release's learned heuristic: a linear model of fine-tuned accuracy on dataset and model sizes.

Bolya et al., "Scalable Diverse Model Selection for Accessible Transfer Learning" (NeurIPS 2021,
Sec. 5, "Learned heuristic"; the release's `methods.py` LearnedHeuristic). A transfer (architecture
a, source s, target t) is described by the ten meta-features

    x = (C_s, C_t, N_s, N_t, L_a, log C_s, log C_t, log N_s, log N_t, log L_a),

C the number of classes, N the number of images (the release's `constants`) and L the depth, and
its fine-tuned accuracy is fitted by ordinary least squares with an intercept over an oracle table;
the prediction is sum_i coef_i x_i (the release drops the intercept, which changes no per-target
correlation). The solve runs on standardised columns (the raw design has condition number ~2.5e6).
Only transfers between the release's datasets have these meta-features.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from parc_jax.evaluation._oracle import TransferKey
from parc_jax.evaluation._protocol import RELEASE_DATASET_IMAGES, RELEASE_MODEL_LAYERS, RELEASE_NUM_CLASSES


def heuristic_features(architecture: str, source: str, target: str, *,
                       layers: Mapping[str, int] = RELEASE_MODEL_LAYERS) -> np.ndarray:
    """The ten meta-features of one transfer (module docstring); all NaN when one is unknown."""
    try:
        raw = [RELEASE_NUM_CLASSES[source], RELEASE_NUM_CLASSES[target], RELEASE_DATASET_IMAGES[source],
               RELEASE_DATASET_IMAGES[target], layers[architecture]]
    except KeyError:
        return np.full(10, np.nan)
    raw = np.asarray(raw, np.float64)
    return np.concatenate([raw, np.log(raw)])


def fit_learned_heuristic(oracle: Mapping[TransferKey, float], *, exclude_targets: Sequence[str] = (),
                          layers: Mapping[str, int] = RELEASE_MODEL_LAYERS) -> np.ndarray:
    """OLS coefficients [10] of the learned heuristic over the oracle's transfers with meta-features.

    Args:
      oracle: {(architecture, source, target): accuracy} (:func:`parc_jax.evaluation.read_oracle`);
        transfers with an unknown meta-feature or a NaN accuracy are skipped.
      exclude_targets: targets whose transfers are left out of the fit (leave-one-target-out).
      layers: depth of each architecture.

    Raises:
      ValueError: fewer transfers with meta-features than the 11 unknowns.
    """
    keys = [k for k, acc in oracle.items() if k[2] not in set(exclude_targets) and math.isfinite(acc)]
    features = np.array([heuristic_features(*k, layers=layers) for k in keys]).reshape(-1, 10)
    keep = np.isfinite(features).all(axis=1)
    features, accuracy = features[keep], np.array([oracle[k] for k in keys])[keep]
    if keep.sum() < 11:
        raise ValueError(f"the learned heuristic needs at least 11 transfers between the PARC release's datasets "
                         f"({', '.join(RELEASE_NUM_CLASSES)}) and known architectures, got {int(keep.sum())}")
    mean, std = features.mean(axis=0), features.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    design = np.column_stack([np.ones(len(features)), (features - mean) / std])
    beta = np.linalg.lstsq(design, accuracy, rcond=None)[0]
    return beta[1:] / std


def learned_heuristic(coefficients: np.ndarray, transfers: Iterable[TransferKey], *,
                      layers: Mapping[str, int] = RELEASE_MODEL_LAYERS) -> np.ndarray:
    """sum_i coef_i x_i for each transfer (NaN where a meta-feature is unknown), as the release's predict."""
    return np.array([heuristic_features(*k, layers=layers) @ coefficients for k in transfers], np.float64)
