"""Transferability estimators: pure, jittable kernels, batched over model banks.

Every estimator takes probe arrays of one model and the target labels and returns a scalar; higher
predicts better transfer, except for the costs and errors whose spec says `higher_is_better=False`
(the PACTran variants and `linear_valerr`, kept in their releases' sign). Inputs are checked on the
host (`ValueError` with an actionable message) before anything is compiled.

    parc(features, labels, num_classes, *, n_dims=None, method="auto", block_size=None)   Bolya et al. 2021
    leep(probs, labels, num_classes)                          Nguyen et al. 2020
    nce(probs, labels, num_classes, *, eps=0.0)               Tran et al. 2019
    logme(features, labels, num_classes)                      You et al. 2021 / 2022
    hscore(features, labels, num_classes, *, shrinkage=False) Bao et al. 2019 / Ibrahim et al. 2022
    knn(features, labels, num_classes, *, k=1, method="auto", block_size=None)   leave-one-out kNN
    gbc(features, labels, num_classes, *, gaussian="spherical")             Pandy et al. 2022
    transrate(features, labels, num_classes, *, eps=1e-4, weighted=False)   Huang et al. 2022
    lead(features, labels, num_classes)                       Hu et al. 2024, as TE-Bench implements it
    pactran_dirichlet(probs, labels, num_classes)             Ding et al. 2022 (a cost: lower is better)
    pactran_gamma(probs, labels, num_classes)                 Ding et al. 2022 (a cost)
    pactran_gaussian(features, labels, num_classes, *, lam=1.0, sigma2=10.0)   Ding et al. 2022 (a cost)
    rankme(features, labels=None, num_classes=None)           Garrido et al. 2023 (label-free)
    linear_valerr(features, labels, num_classes, *, lam=1.0)  half-split validation error (lower is better)
    linear_probe(features, labels, num_classes, *, folds=3, seed=0)   TE-Bench's 3-fold logistic probe

`method="blocked"` (chosen by "auto" above N = 4096) never builds an N x N matrix: exact PARC and kNN
on probe sets of 100,000 images in O(block_size x N) memory, spread over all local devices.

`score_bank(name, bank, labels, num_classes, **opts)` scores M models at once.
"""

from __future__ import annotations

import jax

from parc_jax.estimators import _engine
from parc_jax.estimators._gbc import SPEC as _GBC, gbc
from parc_jax.estimators._hscore import SPEC as _HSCORE, hscore
from parc_jax.estimators._knn import SPEC as _KNN, knn
from parc_jax.estimators._lead import SPEC as _LEAD, lead
from parc_jax.estimators._leep import SPEC as _LEEP, leep
from parc_jax.estimators._linear_probe import PROBE as _LINEAR_PROBE, VALERR as _LINEAR_VALERR
from parc_jax.estimators._linear_probe import linear_probe, linear_valerr
from parc_jax.estimators._logme import SPEC as _LOGME, logme
from parc_jax.estimators._nce import SPEC as _NCE, nce
from parc_jax.estimators._pactran import DIRICHLET as _PACTRAN_DIRICHLET, GAMMA as _PACTRAN_GAMMA
from parc_jax.estimators._pactran import GAUSSIAN as _PACTRAN_GAUSSIAN
from parc_jax.estimators._pactran import pactran_dirichlet, pactran_gamma, pactran_gaussian
from parc_jax.estimators._parc import SPEC as _PARC, parc
from parc_jax.estimators._rankme import SPEC as _RANKME, rankme
from parc_jax.estimators._transrate import SPEC as _TRANSRATE, transrate

EstimatorSpec = _engine.EstimatorSpec

_SPECS = (
    _PARC, _LOGME, _LEEP, _NCE, _HSCORE, _KNN, _GBC, _TRANSRATE, _LEAD, _PACTRAN_DIRICHLET, _PACTRAN_GAMMA,
    _PACTRAN_GAUSSIAN, _RANKME, _LINEAR_VALERR, _LINEAR_PROBE,
)
_FUNCTIONS = {
    "parc": parc,
    "logme": logme,
    "leep": leep,
    "nce": nce,
    "hscore": hscore,
    "knn": knn,
    "gbc": gbc,
    "transrate": transrate,
    "lead": lead,
    "pactran_dirichlet": pactran_dirichlet,
    "pactran_gamma": pactran_gamma,
    "pactran_gaussian": pactran_gaussian,
    "rankme": rankme,
    "linear_valerr": linear_valerr,
    "linear_probe": linear_probe,
}
_REGISTRY: dict[str, EstimatorSpec] = {spec.name: spec for spec in _SPECS}


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
        run together as one vmapped, jitted program). For the estimators whose spec has input_kind
        "probs" (leep, nce, pactran_dirichlet, pactran_gamma) these are probabilities.
      labels: [N] int target labels shared by the bank (PARC also takes [N, C] multi-hot).
      num_classes: C.
      **opts: the estimator's keyword options (n_dims, eps, shrinkage, k).

    Returns:
      [M] scores, equal to M single calls.
    """
    return _engine.run_bank(spec(name), bank, labels, num_classes, **opts)


__all__ = [
    "EstimatorSpec",
    "gbc",
    "get",
    "hscore",
    "knn",
    "lead",
    "leep",
    "linear_probe",
    "linear_valerr",
    "logme",
    "names",
    "nce",
    "pactran_dirichlet",
    "pactran_gamma",
    "pactran_gaussian",
    "parc",
    "rankme",
    "score_bank",
    "spec",
    "transrate",
]
