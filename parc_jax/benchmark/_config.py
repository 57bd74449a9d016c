"""The benchmark's config: fields and defaults, and the checks made before any work starts.

Config files and ``--config.FIELD=VALUE`` overrides go through :mod:`parc_jax._config`, as for every
command; the runs themselves are in :mod:`parc_jax.benchmark._runs`.
"""

from __future__ import annotations

import os

import ml_collections

from parc_jax import _config
from parc_jax.bank import REFERENCE_VARIANTS, parse_estimators
from parc_jax.evaluation import oracle_path


def default_config() -> ml_collections.ConfigDict:
    """The benchmark's config fields and their defaults.

    Fields:
      bank: a built-in bank name (`parc_jax.bank.builtin_banks()`), a bank config file, or "zoo_a,zoo_b".
      targets: target dataset names (`parc_jax.data.load`).
      runs: number of probe samples per target (run r uses seed 2020 + 3037 r).
      budget: probe images per run (PARC: 500).
      split, sampler: where and how the probe is drawn ("fixed" budget or "balanced").
      label_key: the label feature of the targets, where they have several ("": the default one).
      estimators: variant names of `parc_jax.bank.VARIANTS` ("all" for every one).
      baselines: add the parameter count, depth and leave-target-out accuracy baselines.
      oracle: CSV of fine-tuned accuracies (Architecture = bank entry name), or a built-in table's name
        (`parc_jax.evaluation.BUILTIN_ORACLES`, e.g. "parc_controlled").
      output_dir: where the results, report and plots go.
      cache_dir: probe cache ("" = $PARC_JAX_CACHE or ~/.cache/parc_jax/probes).
      data_dir: prepared datasets ("" = the data module's default).
      batch_size, strategy, dtype: extraction settings (`parc_jax.extract.extract`).
      plots: write the PNG plots.
      reference_model: the bank entry whose features RSA and DDS compare each model with, with
        {architecture} and {target} filled in per scored model (the PARC release: the scored model's
        architecture fine-tuned on the target, "{architecture}@{target}"); from the release's probes,
        the probe of the same architecture whose source is the target.
      history: oracle table of past fine-tunes (a CSV file or a built-in name; "" = none): adds the
        history-aware prediction (`parc_jax.evaluation.add_history_columns`, leave-one-target-out) as
        the method `history`.
      history_probes: estimators of this config whose scores correct the history prior (the prior
        alone is then also reported, as `history_prior`).
    """
    c = ml_collections.ConfigDict()
    c.bank = ""
    c.targets = ()
    c.runs = 5
    c.budget = 500
    c.split = "train"
    c.label_key = ""
    c.sampler = "fixed"
    c.estimators = tuple(parse_estimators("all"))
    c.baselines = True
    c.oracle = ""
    c.output_dir = "benchmark_results"
    c.cache_dir = ""
    c.data_dir = ""
    c.batch_size = 128
    c.strategy = "mesh"
    c.dtype = "float32"
    c.plots = True
    c.reference_model = ""
    c.history = ""
    c.history_probes = ()
    return c


def load_config(path: str | os.PathLike | None = None) -> ml_collections.ConfigDict:
    """A benchmark config file laid over :func:`default_config` (see :mod:`parc_jax._config`)."""
    return _config.load_config(path, default_config())


def validate_config(config: ml_collections.ConfigDict, *, release: bool = False) -> list[str]:
    """Checks a config before any work starts; returns the validated estimator names.

    Args:
      config: the benchmark config.
      release: checking for :func:`parc_jax.benchmark.run_release` (no bank or targets needed).

    Raises:
      ValueError: a field out of range, naming the field and what is allowed.
    """
    names = parse_estimators(list(config.estimators))
    if not config.oracle:
        raise ValueError("config.oracle is not set; give the oracle table (a CSV file or a built-in name)")
    oracle_path(config.oracle)
    if config.history:
        oracle_path(config.history)
    needs_reference = [n for n in names if n in REFERENCE_VARIANTS]
    if needs_reference and not (release or config.reference_model):
        raise ValueError(
            f"{', '.join(needs_reference)} compare each model with a reference model; set "
            "config.reference_model (e.g. '{architecture}@{target}')"
        )
    stray = [p for p in config.history_probes if p not in names]
    if stray:
        raise ValueError(
            f"config.history_probes {', '.join(stray)} are not among config.estimators ({', '.join(names)})"
        )
    if not config.output_dir:
        raise ValueError("config.output_dir is empty; give the directory the outputs go to")
    if release:
        return names
    if not config.bank:
        raise ValueError("config.bank is not set; give a built-in bank name, a bank config file or zoo names")
    if not config.targets:
        raise ValueError("config.targets is empty; give the target dataset names")
    if len(set(config.targets)) != len(config.targets):
        raise ValueError(f"config.targets={list(config.targets)} lists a dataset twice")
    if config.runs < 1:
        raise ValueError(f"config.runs={config.runs} must be >= 1")
    if config.budget < 2:
        raise ValueError(f"config.budget={config.budget} must be >= 2 probe images")
    if config.batch_size < 1:
        raise ValueError(f"config.batch_size={config.batch_size} must be >= 1")
    for key, allowed in (
        ("sampler", ("fixed", "balanced")),
        ("strategy", ("mesh", "pmap")),
        ("dtype", ("float32", "bfloat16")),
    ):
        if config[key] not in allowed:
            raise ValueError(f"config.{key}={config[key]!r} is not one of {', '.join(allowed)}")
    return names
