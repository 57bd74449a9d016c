"""The PARC paper's comparison on the release's controlled bank (Bolya et al., NeurIPS 2021, Table 2):
every method, f = 32 PCA variants included, 5 runs of a 500-image probe on the release's 6 targets,
against the release's fine-tuned accuracies (oracle_controlled.csv), with and without plasticity.

    PARC_RELEASE_MODELS=DIR python -m parc_jax.benchmark --config configs/benchmarks/parc_controlled.py
    python -m parc_jax.benchmark --config configs/benchmarks/parc_controlled.py --parc-release-probes DIR

RSA and DDS compare each model with a reference model's features on the same probe images:
`reference_model` names the bank entry, with {architecture} and {target} filled in per scored model.
The release uses the scored model's architecture fine-tuned on the target, which in this bank is the
entry "<architecture>@<target>" (left out of the ranking of that target, but probed as a reference).
"""

from parc_jax import benchmark

# The paper's methods (Table 2), as estimator variants of `parc_jax.bank.VARIANTS`; "_f32": PCA to 32 dims first.
PAPER_METHODS = (
    "parc_f32",
    "parc",
    "rsa_f32",
    "rsa",
    "dds_f32",
    "dds",
    "knn1_f32",
    "knn1",
    "split_knn1_f32",
    "split_knn1",
    "split_logistic_f32",
    "split_logistic",
    "hscore_f32",
    "hscore",
    "logme_f32",
    "logme",
    "leep",
    "nce_eps",
)


def get_config():
    c = benchmark.default_config()
    c.bank = "parc_controlled"
    c.targets = ("cifar10", "oxford_pets", "cub200", "caltech101", "stanford_dogs", "nabird")
    c.runs = 5
    c.budget = 500
    c.split = "train"
    c.sampler = "fixed"
    c.estimators = PAPER_METHODS
    c.reference_model = "{architecture}@{target}"
    c.baselines = True  # depth, mean accuracy on the other targets, learned heuristic
    c.oracle = "parc_controlled"
    c.output_dir = "benchmarks/results/parc_controlled"
    c.batch_size = 128
    return c
