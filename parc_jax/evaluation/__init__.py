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
* History-aware ranking: :func:`read_history` (an oracle table of past fine-tunes, optionally with
  probe scores and Params/Depth) -> :class:`History`; :func:`fit_history` -> :class:`HistoryModel`
  whose ``predict`` gives a :class:`HistoryPrediction` on a new target; honest evaluation by
  :func:`leave_one_target_out` / :func:`leave_one_model_out` and :func:`ranking_summary`.
* The PARC release's learned heuristic: :func:`fit_learned_heuristic`, :func:`learned_heuristic`.
"""

from parc_jax.evaluation._baselines import (
    BASELINE_DEPTH,
    BASELINE_LEARNED_HEURISTIC,
    BASELINE_OTHER_TARGETS,
    BASELINE_PARAMS,
    add_baselines,
)
from parc_jax.evaluation._heuristic import fit_learned_heuristic, heuristic_features, learned_heuristic
from parc_jax.evaluation._history import (
    BASIS_HISTORY,
    BASIS_MEAN,
    BASIS_METADATA,
    METADATA_DEPTH,
    METADATA_PARAMS,
    History,
    HistoryModel,
    HistoryPrediction,
    fit_history,
    read_history,
    zscore_per_target,
)
from parc_jax.evaluation._history_cv import (
    HISTORY_COLUMN,
    HISTORY_PRIOR_COLUMN,
    add_history_columns,
    leave_one_model_out,
    leave_one_target_out,
    ranking_summary,
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
    RELEASE_DATASET_IMAGES,
    RELEASE_EXCLUDED_SOURCES,
    RELEASE_MODEL_LAYERS,
    RELEASE_NUM_CLASSES,
    RELEASE_TARGETS,
    RESULTS_KEY,
    parc_protocol,
)
from parc_jax.evaluation._summary import RANKING_METRICS, evaluate, ranking_metrics
from parc_jax.evaluation._tables import key_of

__all__ = [
    "BASELINE_DEPTH",
    "BASELINE_LEARNED_HEURISTIC",
    "BASELINE_OTHER_TARGETS",
    "BASELINE_PARAMS",
    "BASIS_HISTORY",
    "BASIS_MEAN",
    "BASIS_METADATA",
    "BUILTIN_ORACLES",
    "HISTORY_COLUMN",
    "HISTORY_PRIOR_COLUMN",
    "History",
    "HistoryModel",
    "HistoryPrediction",
    "METADATA_DEPTH",
    "METADATA_PARAMS",
    "METRICS",
    "ORACLE_COLUMNS",
    "RANKING_METRICS",
    "RELEASE_DATASET_IMAGES",
    "RELEASE_EXCLUDED_SOURCES",
    "RELEASE_MODEL_LAYERS",
    "RELEASE_NUM_CLASSES",
    "RELEASE_TARGETS",
    "RESULTS_KEY",
    "add_baselines",
    "add_history_columns",
    "check_oracle_covers",
    "evaluate",
    "fit_history",
    "fit_learned_heuristic",
    "heuristic_features",
    "kendall_tau",
    "key_of",
    "learned_heuristic",
    "leave_one_model_out",
    "leave_one_target_out",
    "leave_target_out_accuracy",
    "oracle_path",
    "parc_protocol",
    "pearson",
    "ranking_metrics",
    "ranking_summary",
    "read_history",
    "read_oracle",
    "regret_at_k",
    "spearman",
    "top1_relative_accuracy",
    "weighted_tau",
    "zscore_per_target",
]
