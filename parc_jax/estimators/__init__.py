"""Transferability estimators: pure, jittable kernels, batched over model banks.

Every estimator takes probe arrays of one model and the target labels and returns a scalar; higher
predicts better transfer. Inputs are checked on the host (`ValueError` with an actionable message)
before anything is compiled.

    parc(features, labels, num_classes, *, n_dims=None, method="auto", block_size=None)   Bolya et al. 2021
    leep(probs, labels, num_classes)                          Nguyen et al. 2020
    nce(probs, labels, num_classes, *, eps=0.0)               Tran et al. 2019
    logme(features, labels, num_classes)                      You et al. 2021 / 2022
    hscore(features, labels, num_classes, *, shrinkage=False) Bao et al. 2019 / Ibrahim et al. 2022
    knn(features, labels, num_classes, *, k=1, metric="euclidean", method="auto", block_size=None)
                                                              leave-one-out kNN
    split_knn(features, labels, num_classes, *, k=1)          kNN, first half -> second half
    split_logistic(features, labels, num_classes)             converged multinomial LR, same split
    rsa(features, reference_features)                         Dwivedi & Roig 2019
    dds(features, reference_features)                         Dwivedi et al. 2020

Every feature-based estimator takes `n_dims=` (an exact PCA to n_dims dimensions first, principal axes
signed as scikit-learn >= 1.5 signs them); the PARC paper's "f=32" variants are `n_dims=32`. RSA and
DDS compare the model with a reference model's features [N, R] on the same images instead of labels.

`method="blocked"` (chosen by "auto" above N = 4096) never builds an N x N matrix: exact PARC and kNN
on probe sets of 100,000 images in O(block_size x N) memory, spread over all local devices.

`score_bank(name, bank, labels, num_classes, **opts)` scores M models at once;
`score_bank("rsa", bank, reference_features)` scores M models against one shared reference.
"""

from __future__ import annotations

import jax

from parc_jax.estimators import _engine
from parc_jax.estimators._hscore import SPEC as _HSCORE, hscore
from parc_jax.estimators._knn import SPEC as _KNN, knn
from parc_jax.estimators._leep import SPEC as _LEEP, leep
from parc_jax.estimators._logme import SPEC as _LOGME, logme
from parc_jax.estimators._nce import SPEC as _NCE, nce
from parc_jax.estimators._parc import SPEC as _PARC, parc
from parc_jax.estimators._similarity import DDS_SPEC as _DDS, RSA_SPEC as _RSA, dds, rsa
from parc_jax.estimators._split import (
    SPLIT_KNN_SPEC as _SPLIT_KNN,
    SPLIT_LOGISTIC_SPEC as _SPLIT_LOGISTIC,
    split_knn,
    split_logistic,
)

EstimatorSpec = _engine.EstimatorSpec

_REGISTRY: dict[str, EstimatorSpec] = {
    spec.name: spec
    for spec in (_PARC, _LOGME, _LEEP, _NCE, _HSCORE, _KNN, _SPLIT_KNN, _SPLIT_LOGISTIC, _RSA, _DDS)
}
_FUNCTIONS = {
    "parc": parc,
    "logme": logme,
    "leep": leep,
    "nce": nce,
    "hscore": hscore,
    "knn": knn,
    "split_knn": split_knn,
    "split_logistic": split_logistic,
    "rsa": rsa,
    "dds": dds,
}


def names() -> list[str]:
    """Names of the registered estimators."""
    return list(_REGISTRY)


def spec(name: str) -> EstimatorSpec:
    """The `EstimatorSpec` (input kind, kernel, description) of a registered estimator."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown estimator {name!r}; available: {', '.join(names())}")
    return _REGISTRY[name]


def get(name: str):
    """The public function of a registered estimator, e.g. `get("parc")(features, labels, C)`."""
    spec(name)
    return _FUNCTIONS[name]


def score_bank(name: str, bank, labels, num_classes: int | None = None, **opts) -> jax.Array:
    """Score a whole bank of M models with one estimator.

    Args:
      name: estimator name (see `names()`).
      bank: [M, N, D] array, or a list of M arrays [N, D_m] (shapes may differ; models of equal shape
        run together as one vmapped, jitted program). For "leep" and "nce" these are probabilities.
      labels: [N] int target labels shared by the bank (PARC also takes [N, C] multi-hot). For the
        estimators whose `spec(name).target` is "reference" (rsa, dds): the [N, R] features of the
        reference model on the same images, shared by the bank (score a bank whose models have
        different references, as the PARC release's per-architecture references, one group per
        reference).
      num_classes: C; unused (None) for "reference" estimators.
      **opts: the estimator's keyword options (n_dims, eps, shrinkage, k, metric).

    Returns:
      [M] scores, equal to M single calls.
    """
    return _engine.run_bank(spec(name), bank, labels, num_classes, **opts)


__all__ = [
    "EstimatorSpec",
    "dds",
    "get",
    "hscore",
    "knn",
    "leep",
    "logme",
    "names",
    "nce",
    "parc",
    "rsa",
    "score_bank",
    "spec",
    "split_knn",
    "split_logistic",
]
