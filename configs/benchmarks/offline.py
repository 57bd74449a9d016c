"""The PARC benchmark on the built-in offline bank: every estimator variant, 5 runs of a
500-image probe on each offline target, against the bank's fine-tuned accuracies.

    python -m parc_jax.benchmark --config configs/benchmarks/offline.py [--config.runs=2 ...]

The oracle table comes from `configs/finetune/offline_oracle.py` (see its docstring for the
command). Probe sets are cached (~/.cache/parc_jax/probes or $PARC_JAX_CACHE): a rerun only
re-scores. The outputs (results.csv, summary.json, report.md, PNG plots) go to output_dir.
"""

from parc_jax import benchmark


def get_config():
    c = benchmark.default_config()
    c.bank = "offline"
    c.targets = ("fashion_mnist_deb", "mnist5k", "digits")
    c.runs = 5
    c.budget = 500
    c.split = "train"
    c.sampler = "fixed"
    c.estimators = ("parc_f32", "parc", "logme", "leep", "nce", "nce_eps", "hscore", "hscore_shrunk", "knn1", "knn5")
    c.baselines = True
    c.oracle = "benchmarks/results/offline_oracle.csv"
    c.output_dir = "benchmarks/results/offline"
    c.batch_size = 128
    return c
