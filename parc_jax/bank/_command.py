"""What ``python -m parc_jax.score`` does, as a library function of a config.

:func:`default_config` lists the fields (every command-line flag of the score command sets one);
:func:`score_target` loads the bank (or reads probe files), probes the target for every run, ranks
the models and writes the ranking files.
"""

from __future__ import annotations

import logging
import pathlib

import ml_collections

from parc_jax import _config
from parc_jax.bank._probe_files import read_probe_file
from parc_jax.bank._ranking import DEFAULT_ESTIMATORS, Ranking, average, parse_estimators, rank_bank

log = logging.getLogger(__name__)


def default_config() -> ml_collections.ConfigDict:
    """The score command's fields and their defaults.

    Fields:
      bank: built-in bank name or bank config file (used unless `models` or `probes` is set).
      models: zoo model names to rank instead of a bank.
      probes: precomputed probe files (.npz, PARC release .pkl) to rank instead of probing.
      dataset, split: the target and the split the probe set is drawn from.
      probe_size, sampler, runs: PARC's probe protocol (budget, "fixed" or "balanced", seeds 2020 + 3037 r).
      estimators: variant names (`parc_jax.bank.VARIANTS`, or "all"); the first is the primary.
      num_classes: number of target classes (0: from the dataset / probe files).
      out: ranking files (.csv / .json); empty: runs/score/<dataset>.{csv,json}.
      data_dir, cache_dir: where datasets and cached probe sets live ("" = the defaults).
      batch_size, dtype: extraction settings.
      include_own_source: also rank models trained on the target itself.
    """
    c = ml_collections.ConfigDict()
    c.bank = "offline"
    c.models = ()
    c.probes = ()
    c.dataset = "fashion_mnist_deb"
    c.split = "train"
    c.probe_size = 500
    c.sampler = "fixed"
    c.runs = 1
    c.estimators = tuple(DEFAULT_ESTIMATORS)
    c.num_classes = 0
    c.out = ()
    c.data_dir = ""
    c.cache_dir = ""
    c.batch_size = 128
    c.dtype = "float32"
    c.include_own_source = False
    return c


def load_config(path=None) -> ml_collections.ConfigDict:
    """A score config file laid over :func:`default_config` (see :mod:`parc_jax._config`)."""
    return _config.load_config(path, default_config())


def _check(config: ml_collections.ConfigDict) -> list[str]:
    for name, low in (("runs", 1), ("probe_size", 4), ("batch_size", 1), ("num_classes", 0)):
        if config[name] < low:
            raise ValueError(f"config.{name} must be >= {low}, got {config[name]}")
    for out in config.out:
        if not out.endswith((".csv", ".json")):
            raise ValueError(f"ranking files end in .csv or .json, got {out!r}")
    if config.models and config.probes:
        raise ValueError("give either zoo models or probe files, not both")
    return parse_estimators(list(config.estimators))


def _bank_rankings(config: ml_collections.ConfigDict, names: list[str]) -> list[Ranking]:
    # Imported here: the model zoo (Flax) and the datasets (TFDS) take seconds to import, and ranking
    # probe files needs neither.
    from parc_jax.bank._entries import load_bank  # pylint: disable=import-outside-toplevel
    from parc_jax.bank._probing import probe_bank  # pylint: disable=import-outside-toplevel

    entries = load_bank(",".join(config.models) if config.models else config.bank)
    if not config.include_own_source:
        own = [e.name for e in entries if e.source_dataset == config.dataset]
        if own:
            log.warning("skipping %s (trained on %s; include_own_source keeps them)", ", ".join(own), config.dataset)
        entries = [e for e in entries if e.source_dataset != config.dataset]
        if not entries:
            raise ValueError(f"every model of the bank was trained on {config.dataset}; set include_own_source")
    return [
        rank_bank(
            probe_bank(entries, config.dataset, split=config.split, budget=config.probe_size, run=run,
                       sampler=config.sampler, data_dir=config.data_dir or None, cache_dir=config.cache_dir or None,
                       batch_size=config.batch_size, dtype=config.dtype),
            names, num_classes=config.num_classes or None)
        for run in range(config.runs)
    ]


def score_target(config: ml_collections.ConfigDict) -> tuple[Ranking, list[str]]:
    """Ranks a bank (or probe files) on a target and writes the ranking; returns it and the files written.

    Raises:
      ValueError: a bad config, an unknown bank, model or dataset, or unreadable probe files.
    """
    names = _check(config)
    if config.probes:
        result = rank_bank([read_probe_file(p) for p in config.probes], names, num_classes=config.num_classes or None)
        stem = pathlib.Path(config.probes[0]).parent / "ranking"
    else:
        result = average(_bank_rankings(config, names))
        stem = pathlib.Path("runs/score") / pathlib.Path(config.dataset).name
    outputs = list(config.out) or [f"{stem}.csv", f"{stem}.json"]
    for out in outputs:
        result.save(out)
    return result, outputs
