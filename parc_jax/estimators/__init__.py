"""Transferability estimators: pure, jittable kernels, batched over model banks.

Every estimator takes probe arrays of one model and the target labels and returns a scalar; higher
predicts better transfer. Inputs are checked on the host (`ValueError` with an actionable message)
before anything is compiled.

    parc(features, labels, num_classes, *, n_dims=None, method="auto", block_size=None)   Bolya et al. 2021
    leep(probs, labels, num_classes)                          Nguyen et al. 2020
    nce(probs, labels, num_classes, *, eps=0.0)               Tran et al. 2019
    logme(features, labels, num_classes)                      You et al. 2021 / 2022
    hscore(features, labels, num_classes, *, shrinkage=False) Bao et al. 2019 / Ibrahim et al. 2022
    knn(features, labels, num_classes, *, k=1, method="auto", block_size=None)   leave-one-out kNN

`method="blocked"` (chosen by "auto" above N = 4096) never builds an N x N matrix: exact PARC and kNN
on probe sets of 100,000 images in O(block_size x N) memory, spread over all local devices.

`score_bank(name, bank, labels, num_classes, **opts)` scores M models at once.
"""

from __future__ import annotations

import jax

from parc_jax.estimators import _engine
from parc_jax.estimators._combine import min_max_combine
from parc_jax.estimators._etran import ENERGY_SPEC as _ETRAN_ENERGY, LDA_SPEC as _ETRAN_LDA, SPEC as _ETRAN
from parc_jax.estimators._etran import etran, etran_energy, etran_lda
from parc_jax.estimators._hscore import SPEC as _HSCORE, hscore
from parc_jax.estimators._knn import SPEC as _KNN, knn
from parc_jax.estimators._leep import SPEC as _LEEP, leep
from parc_jax.estimators._logme import SPEC as _LOGME, logme
from parc_jax.estimators._ncti import SPEC as _NCTI, ncti, ncti_terms
from parc_jax.estimators._nce import SPEC as _NCE, nce
from parc_jax.estimators._parc import SPEC as _PARC, parc
from parc_jax.estimators._sfda import SPEC as _SFDA, sfda

EstimatorSpec = _engine.EstimatorSpec

_REGISTRY: dict[str, EstimatorSpec] = {spec.name: spec for spec in (_PARC, _LOGME, _LEEP, _NCE, _HSCORE, _KNN)}
_FUNCTIONS = {"parc": parc, "logme": logme, "leep": leep, "nce": nce, "hscore": hscore, "knn": knn}
# The field's later estimators (tests/data/golden/BREADTH.md).
_BREADTH_A = {
    "sfda": (_SFDA, sfda),
    "etran_energy": (_ETRAN_ENERGY, etran_energy),
    "etran_lda": (_ETRAN_LDA, etran_lda),
    "etran": (_ETRAN, etran),
    "ncti": (_NCTI, ncti),
}
_REGISTRY.update({name: spec for name, (spec, _) in _BREADTH_A.items()})
_FUNCTIONS.update({name: function for name, (_, function) in _BREADTH_A.items()})


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


def score_bank(name: str, bank, labels, num_classes: int, **opts) -> jax.Array:
    """Score a whole bank of M models with one estimator.

    Args:
      name: estimator name (see `names()`).
      bank: [M, N, D] array, or a list of M arrays [N, D_m] (shapes may differ; models of equal shape
        run together as one vmapped, jitted program). For "leep" and "nce" these are probabilities.
      labels: [N] int target labels shared by the bank (PARC also takes [N, C] multi-hot).
      num_classes: C.
      **opts: the estimator's keyword options (n_dims, eps, shrinkage, k).

    Returns:
      [M] scores, equal to M single calls.
    """
    return _engine.run_bank(spec(name), bank, labels, num_classes, **opts)


__all__ = ["EstimatorSpec", "get", "hscore", "knn", "leep", "logme", "names", "nce", "parc", "score_bank", "sfda", "spec"]
