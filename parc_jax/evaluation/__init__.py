"""How well transferability scores predict fine-tuned accuracy: every results/oracle table and metric.

* Ranking metrics between an estimator's scores over a model bank and the models' ground-truth
  accuracies: :func:`pearson`, :func:`spearman`, :func:`kendall_tau`, :func:`weighted_tau` (SciPy),
  :func:`top1_relative_accuracy`, :func:`regret_at_k`; ``METRICS`` maps names to them.
* Oracle tables: :func:`read_oracle` (any oracle CSV, or a built-in table by name: ``parc_controlled``,
  ``parc_all``, ``history_*``), :func:`leave_target_out_accuracy`, :func:`check_oracle_covers`.
* :func:`parc_protocol`: the PARC benchmark's evaluation (per-target Pearson x 100, mean and variance
  over runs, optional plasticity term) on the PARC release's results/oracle tables.
* :func:`evaluate` / :func:`ranking_metrics`: the benchmark's whole evaluation of a results table;
  :func:`add_baselines`: the trivial baseline columns (parameter count, depth, static ranker).
"""

from parc_jax.evaluation._baselines import (
    BASELINE_DEPTH,
    BASELINE_OTHER_TARGETS,
    BASELINE_PARAMS,
    add_baselines,
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
from parc_jax.evaluation._oracle import (
    BUILTIN_ORACLES,
    ORACLE_COLUMNS,
    check_oracle_covers,
    leave_target_out_accuracy,
    oracle_path,
    read_oracle,
)
from parc_jax.evaluation._protocol import (
    RELEASE_EXCLUDED_SOURCES,
    RELEASE_MODEL_LAYERS,
    RESULTS_KEY,
    parc_protocol,
)
from parc_jax.evaluation._summary import RANKING_METRICS, evaluate, ranking_metrics
from parc_jax.evaluation._tables import key_of

__all__ = [
    "BASELINE_DEPTH",
    "BASELINE_OTHER_TARGETS",
    "BASELINE_PARAMS",
    "BUILTIN_ORACLES",
    "METRICS",
    "ORACLE_COLUMNS",
    "RANKING_METRICS",
    "RELEASE_EXCLUDED_SOURCES",
    "RELEASE_MODEL_LAYERS",
    "RESULTS_KEY",
    "add_baselines",
    "check_oracle_covers",
    "evaluate",
    "kendall_tau",
    "key_of",
    "leave_target_out_accuracy",
    "oracle_path",
    "parc_protocol",
    "pearson",
    "ranking_metrics",
    "read_oracle",
    "regret_at_k",
    "spearman",
    "top1_relative_accuracy",
    "weighted_tau",
]
