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
    sfda(features, labels, num_classes, *, n_dims=None)      Shao et al. 2022
    etran_energy(features, labels, num_classes)               Gholami et al. 2023
    etran_lda(features, labels, num_classes, *, n_dims=None)  Gholami et al. 2023 (eigenproblem fixed)
    ped(features, labels, num_classes, *, base="sfda")        Li et al. 2023 (base "sfda" or "logme")
    ncti_terms(features, labels, num_classes)                 Wang et al. 2023: the three per-model terms

Bank-relative estimators score a model against the other models of its bank (one target):

    etran(bank, labels, num_classes, *, n_dims=None)          0.15 energy' + 0.85 lda'
    ncti(bank, labels, num_classes)                           cls_conf' + feature_nuc' - log_class_pred_nuc'

(' = min-max scaled over the bank, `min_max_combine`). `score_bank("etran" | "ncti", ...)` gives the
same [M] scores and `score_bank_terms` the unscaled [M, T] terms.

`method="blocked"` (chosen by "auto" above N = 4096) never builds an N x N matrix: exact PARC and kNN
on probe sets of 100,000 images in O(block_size x N) memory, spread over all local devices.

`score_bank(name, bank, labels, num_classes, **opts)` scores M models at once.
"""

from __future__ import annotations

import jax

from parc_jax.estimators import _engine, _etran
from parc_jax.estimators._combine import min_max_combine
from parc_jax.estimators._etran import etran, etran_energy, etran_lda
from parc_jax.estimators._hscore import SPEC as _HSCORE, hscore
from parc_jax.estimators._knn import SPEC as _KNN, knn
from parc_jax.estimators._leep import SPEC as _LEEP, leep
from parc_jax.estimators._logme import SPEC as _LOGME, logme
from parc_jax.estimators._nce import SPEC as _NCE, nce
from parc_jax.estimators._ncti import SPEC as _NCTI, ncti, ncti_terms
from parc_jax.estimators._parc import SPEC as _PARC, parc
from parc_jax.estimators._ped import SPEC as _PED, ped
from parc_jax.estimators._sfda import SPEC as _SFDA, sfda

EstimatorSpec = _engine.EstimatorSpec

_REGISTRY: dict[str, EstimatorSpec] = {spec.name: spec for spec in (_PARC, _LOGME, _LEEP, _NCE, _HSCORE, _KNN)}
_FUNCTIONS = {"parc": parc, "logme": logme, "leep": leep, "nce": nce, "hscore": hscore, "knn": knn}
# The field's later estimators (tests/data/golden/BREADTH.md).
_BREADTH_A = {
    "sfda": (_SFDA, sfda),
    "etran_energy": (_etran.ENERGY_SPEC, etran_energy),
    "etran_lda": (_etran.LDA_SPEC, etran_lda),
    "etran": (_etran.SPEC, etran),
    "ncti": (_NCTI, ncti),
    "ped": (_PED, ped),
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


def score_bank_terms(name: str, bank, labels, num_classes: int, **opts) -> jax.Array:
    """The [M, T] per-model terms of a bank-relative estimator ("etran", "ncti") before they are combined.

    `score_bank(name, ...)` equals `spec(name).combine(score_bank_terms(name, ...))`; the terms of models
    scored separately can be stacked and combined with `min_max_combine` and the estimator's weights.
    """
    estimator = spec(name)
    if estimator.combine is None:
        raise ValueError(f"{name!r} scores each model on its own; use score_bank")
    return _engine.run_bank_terms(estimator, bank, labels, num_classes, **opts)


__all__ = [
    "EstimatorSpec",
    "etran",
    "etran_energy",
    "etran_lda",
    "get",
    "hscore",
    "knn",
    "leep",
    "logme",
    "min_max_combine",
    "names",
    "nce",
    "ncti",
    "ncti_terms",
    "parc",
    "ped",
    "score_bank",
    "score_bank_terms",
    "sfda",
    "spec",
]
