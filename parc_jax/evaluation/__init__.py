"""How well transferability scores predict fine-tuned accuracy.

* Ranking metrics between an estimator's scores over a model bank and the models' ground-truth
  accuracies: :func:`pearson`, :func:`spearman`, :func:`kendall_tau`, :func:`weighted_tau`,
  :func:`top1_relative_accuracy`, :func:`regret_at_k` (NumPy float64; ``METRICS`` maps names
  to them).
* :func:`parc_protocol`: the PARC benchmark's evaluation (per-target Pearson x 100, mean and
  variance over runs, optional plasticity term) on the PARC release's results/oracle tables.
* :func:`learned_heuristic`: the release's learned heuristic baseline (linear regression on dataset
  sizes, class counts and depth), fitted on the oracle rows of the other targets only.
"""

from parc_jax.evaluation._heuristic import (
    RELEASE_DATASET_IMAGES,
    RELEASE_NUM_CLASSES,
    fit_learned_heuristic,
    heuristic_features,
    learned_heuristic,
)
from parc_jax.evaluation._metrics import (
    METRICS,
    kendall_tau,
    pearson,
    regret_at_k,
    spearman,
    top1_relative_accuracy,
    weighted_tau,
)
from parc_jax.evaluation._protocol import (
    ORACLE_COLUMNS,
    RELEASE_EXCLUDED_SOURCES,
    RELEASE_MODEL_LAYERS,
    RESULTS_KEY,
    parc_protocol,
)

__all__ = [
    "METRICS",
    "ORACLE_COLUMNS",
    "RELEASE_DATASET_IMAGES",
    "RELEASE_EXCLUDED_SOURCES",
    "RELEASE_MODEL_LAYERS",
    "RELEASE_NUM_CLASSES",
    "RESULTS_KEY",
    "fit_learned_heuristic",
    "heuristic_features",
    "kendall_tau",
    "learned_heuristic",
    "parc_protocol",
    "pearson",
    "regret_at_k",
    "spearman",
    "top1_relative_accuracy",
    "weighted_tau",
]
