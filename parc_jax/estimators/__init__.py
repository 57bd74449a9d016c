"""Transferability estimators: pure, jittable kernels, batched over model banks.

Every estimator takes probe arrays of one model and the target labels and returns a scalar; higher
predicts better transfer, except for the costs and errors whose spec says `higher_is_better=False`
(the PACTran variants and `linear_valerr`, kept in their releases' sign). Inputs are checked on the
host (`ValueError` with an actionable message) before anything is compiled.

The PARC paper's methods (Bolya et al., NeurIPS 2021):

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

The field's later estimators (tests/data/golden/BREADTH.md):

    sfda(features, labels, num_classes, *, n_dims=None)       Shao et al. 2022
    etran_energy(features, labels, num_classes)               Gholami et al. 2023
    etran_lda(features, labels, num_classes, *, n_dims=None)  Gholami et al. 2023 (eigenproblem fixed)
    ped(features, labels, num_classes, *, base="sfda")        Li et al. 2023 (base "sfda" or "logme")
    ncti_terms(features, labels, num_classes)                 Wang et al. 2023: the three per-model terms
    nleep(features, labels, num_classes, *, components_per_class=5, seed=0, log=True)   Li et al. 2021
    gbc(features, labels, num_classes, *, gaussian="spherical")             Pandy et al. 2022
    transrate(features, labels, num_classes, *, eps=1e-4, weighted=False)   Huang et al. 2022
    lead(features, labels, num_classes)                       Hu et al. 2024, as TE-Bench implements it
    pactran_dirichlet(probs, labels, num_classes)             Ding et al. 2022 (a cost: lower is better)
    pactran_gamma(probs, labels, num_classes)                 Ding et al. 2022 (a cost)
    pactran_gaussian(features, labels, num_classes, *, lam=1.0, sigma2=10.0)   Ding et al. 2022 (a cost)
    rankme(features, labels=None, num_classes=None)           Garrido et al. 2023 (label-free)
    linear_valerr(features, labels, num_classes, *, lam=1.0)  half-split validation error (lower is better)
    linear_probe(features, labels, num_classes, *, folds=3, seed=0)   TE-Bench's 3-fold logistic probe

Bank-relative estimators score a model against the other models of its bank (one target):

    etran(bank, labels, num_classes, *, n_dims=None)          0.15 energy' + 0.85 lda'
    ncti(bank, labels, num_classes)                           cls_conf' + feature_nuc' - log_class_pred_nuc'

(' = min-max scaled over the bank, `min_max_combine`). `score_bank("etran" | "ncti", ...)` gives the
[M] scores and `score_bank_terms` the unscaled [M, T] terms.

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

from parc_jax.estimators import _engine, _etran
from parc_jax.estimators._combine import min_max_combine
from parc_jax.estimators._etran import etran, etran_energy, etran_lda
from parc_jax.estimators._gbc import SPEC as _GBC
from parc_jax.estimators._gbc import gbc
from parc_jax.estimators._hscore import SPEC as _HSCORE
from parc_jax.estimators._hscore import hscore
from parc_jax.estimators._knn import SPEC as _KNN
from parc_jax.estimators._knn import knn
from parc_jax.estimators._lead import SPEC as _LEAD
from parc_jax.estimators._lead import lead
from parc_jax.estimators._leep import SPEC as _LEEP
from parc_jax.estimators._leep import leep
from parc_jax.estimators._linear_probe import PROBE as _LINEAR_PROBE
from parc_jax.estimators._linear_probe import VALERR as _LINEAR_VALERR
from parc_jax.estimators._linear_probe import linear_probe, linear_valerr
from parc_jax.estimators._logme import SPEC as _LOGME
from parc_jax.estimators._logme import logme
from parc_jax.estimators._nce import SPEC as _NCE
from parc_jax.estimators._nce import nce
from parc_jax.estimators._ncti import SPEC as _NCTI
from parc_jax.estimators._ncti import ncti, ncti_terms
from parc_jax.estimators._nleep import SPEC as _NLEEP
from parc_jax.estimators._nleep import nleep
from parc_jax.estimators._pactran import DIRICHLET as _PACTRAN_DIRICHLET
from parc_jax.estimators._pactran import GAMMA as _PACTRAN_GAMMA
from parc_jax.estimators._pactran import GAUSSIAN as _PACTRAN_GAUSSIAN
from parc_jax.estimators._pactran import pactran_dirichlet, pactran_gamma, pactran_gaussian
from parc_jax.estimators._parc import SPEC as _PARC
from parc_jax.estimators._parc import parc
from parc_jax.estimators._ped import SPEC as _PED
from parc_jax.estimators._ped import ped
from parc_jax.estimators._rankme import SPEC as _RANKME
from parc_jax.estimators._rankme import rankme
from parc_jax.estimators._sfda import SPEC as _SFDA
from parc_jax.estimators._sfda import sfda
from parc_jax.estimators._similarity import DDS_SPEC as _DDS
from parc_jax.estimators._similarity import RSA_SPEC as _RSA
from parc_jax.estimators._similarity import dds, rsa
from parc_jax.estimators._split import SPLIT_KNN_SPEC as _SPLIT_KNN
from parc_jax.estimators._split import SPLIT_LOGISTIC_SPEC as _SPLIT_LOGISTIC
from parc_jax.estimators._split import split_knn, split_logistic
from parc_jax.estimators._transrate import SPEC as _TRANSRATE
from parc_jax.estimators._transrate import transrate

EstimatorSpec = _engine.EstimatorSpec

# name -> (spec, public function), in the order `names()` lists them.
_ESTIMATORS: dict[str, tuple[EstimatorSpec, object]] = {
    "parc": (_PARC, parc),
    "logme": (_LOGME, logme),
    "leep": (_LEEP, leep),
    "nce": (_NCE, nce),
    "hscore": (_HSCORE, hscore),
    "knn": (_KNN, knn),
    "split_knn": (_SPLIT_KNN, split_knn),
    "split_logistic": (_SPLIT_LOGISTIC, split_logistic),
    "rsa": (_RSA, rsa),
    "dds": (_DDS, dds),
    "sfda": (_SFDA, sfda),
    "etran_energy": (_etran.ENERGY_SPEC, etran_energy),
    "etran_lda": (_etran.LDA_SPEC, etran_lda),
    "etran": (_etran.SPEC, etran),
    "ncti": (_NCTI, ncti),
    "ped": (_PED, ped),
    "nleep": (_NLEEP, nleep),
    "gbc": (_GBC, gbc),
    "transrate": (_TRANSRATE, transrate),
    "lead": (_LEAD, lead),
    "pactran_dirichlet": (_PACTRAN_DIRICHLET, pactran_dirichlet),
    "pactran_gamma": (_PACTRAN_GAMMA, pactran_gamma),
    "pactran_gaussian": (_PACTRAN_GAUSSIAN, pactran_gaussian),
    "rankme": (_RANKME, rankme),
    "linear_valerr": (_LINEAR_VALERR, linear_valerr),
    "linear_probe": (_LINEAR_PROBE, linear_probe),
}


def names() -> list[str]:
    """Names of the registered estimators."""
    return list(_ESTIMATORS)


def spec(name: str) -> EstimatorSpec:
    """The `EstimatorSpec` (input kind, kernel, description) of a registered estimator."""
    if name not in _ESTIMATORS:
        raise ValueError(f"unknown estimator {name!r}; available: {', '.join(names())}")
    return _ESTIMATORS[name][0]


def get(name: str):
    """The public function of a registered estimator, e.g. `get("parc")(features, labels, C)`."""
    spec(name)
    return _ESTIMATORS[name][1]


def score_bank(name: str, bank, labels, num_classes: int | None = None, **opts) -> jax.Array:
    """Score a whole bank of M models with one estimator.

    Args:
      name: estimator name (see `names()`).
      bank: [M, N, D] array, or a list of M arrays [N, D_m] (shapes may differ; models of equal shape
        run together as one vmapped, jitted program). For the estimators whose spec has input_kind
        "probs" (leep, nce, pactran_dirichlet, pactran_gamma) these are probabilities.
      labels: [N] int target labels shared by the bank (PARC also takes [N, C] multi-hot). For the
        estimators whose `spec(name).target` is "reference" (rsa, dds): the [N, R] features of the
        reference model on the same images, shared by the bank (score a bank whose models have
        different references, as the PARC release's per-architecture references, one group per
        reference).
      num_classes: C; unused (None) for "reference" estimators.
      **opts: the estimator's keyword options (n_dims, eps, shrinkage, k, metric, ...).

    Returns:
      [M] scores, equal to M single calls (for the bank-relative etran and ncti: the bank's combination).
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
    "get",
    "min_max_combine",
    "names",
    "score_bank",
    "score_bank_terms",
    "spec",
    *_ESTIMATORS,
    "ncti_terms",
]
