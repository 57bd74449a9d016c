"""The benchmark pipeline: config -> runs -> report (the PARC paper's protocol).

* :func:`default_config` / :func:`load_config` / :func:`validate_config`: a benchmark's fields (bank,
  targets, runs, estimators, oracle, ...), config files and checks.
* :func:`run_benchmark`: probe a bank on every target for every run, score it with every estimator,
  evaluate against an oracle table (:func:`parc_jax.evaluation.evaluate`) and write results.csv,
  summary.json, report.md and plots; :func:`run_release` does the same from the PARC release's
  probe pickles.

``python -m parc_jax.benchmark`` is the command line of this pipeline.
"""

from parc_jax.benchmark._config import default_config, load_config, validate_config
from parc_jax.benchmark._report import markdown_report, methods_table, print_summary, write_results_csv
from parc_jax.benchmark._runs import find_release_probes, run_benchmark, run_release

__all__ = [
    "default_config",
    "find_release_probes",
    "load_config",
    "markdown_report",
    "methods_table",
    "print_summary",
    "run_benchmark",
    "run_release",
    "validate_config",
    "write_results_csv",
]
