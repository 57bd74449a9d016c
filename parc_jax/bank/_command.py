"""What ``python -m parc_jax.score`` does, as a library function of a config.

:func:`default_config` lists the fields (every command-line flag of the score command sets one);
:func:`score_target` loads the bank (or reads probe files), probes the target for every run, ranks
the models and writes the ranking files.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import time

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
      label_key: the label feature, where the dataset has several ("": its supervised keys, else its only label).
      probe_size, sampler, runs: PARC's probe protocol (budget, "fixed" or "balanced", seeds 2020 + 3037 r).
      estimators: variant names (`parc_jax.bank.VARIANTS`, or "all"); the first is the primary.
      num_classes: number of target classes (0: from the dataset / probe files).
      out: ranking files (.csv / .json); empty: runs/score/<dataset>.{csv,json}.
      data_dir, cache_dir: where datasets and cached probe sets live ("" = the defaults).
      batch_size, dtype: extraction settings.
      include_own_source: also rank models trained on the target itself.
      history: oracle table of past fine-tunes (CSV or built-in name; "" = none): adds the column
        `history`, each model's predicted fine-tuned accuracy (`parc_jax.evaluation.fit_history`).
        Architecture = the bank entry's name (else the record's architecture), as in oracle tables.
      history_probes: estimators whose scores correct the history prior; the history table must
        hold their past scores in columns of the same names.
      rank_by_history: recommend (and order) by the history column instead of the first estimator.
    """
    c = ml_collections.ConfigDict()
    c.bank = "offline"
    c.models = ()
    c.probes = ()
    c.dataset = "fashion_mnist_deb"
    c.split = "train"
    c.label_key = ""
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
    c.history = ""
    c.history_probes = ()
    c.rank_by_history = False
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
    names = parse_estimators(list(config.estimators))
    stray = [p for p in config.history_probes if p not in names]
    if stray:
        raise ValueError(f"history_probes {', '.join(stray)} are not among the estimators ({', '.join(names)})")
    if config.rank_by_history and not config.history:
        raise ValueError("rank_by_history needs a history table (config.history)")
    if config.history:
        from parc_jax import evaluation  # pylint: disable=import-outside-toplevel

        evaluation.oracle_path(config.history)
    return names


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
            probe_bank(
                entries,
                config.dataset,
                split=config.split,
                budget=config.probe_size,
                run=run,
                sampler=config.sampler,
                data_dir=config.data_dir or None,
                cache_dir=config.cache_dir or None,
                batch_size=config.batch_size,
                dtype=config.dtype,
                label_key=config.label_key or None,
            ),
            names,
            num_classes=config.num_classes or None,
        )
        for run in range(config.runs)
    ]


def _with_history(result: Ranking, config: ml_collections.ConfigDict) -> Ranking:
    """The ranking with the history model's prediction as the column `history` (first if ranked by it)."""
    from parc_jax import evaluation  # pylint: disable=import-outside-toplevel
    from parc_jax.evaluation import HISTORY_COLUMN, key_of  # pylint: disable=import-outside-toplevel

    start = time.perf_counter()
    target = key_of(result.records[0].target_dataset or config.dataset)
    probes = list(config.history_probes)
    history = evaluation.read_history(config.history, probes=probes)
    if target in history.targets:
        log.warning("the history has fine-tunes on %s itself: left out, the prediction is for a new target", target)
        history = history.without(targets=[target])
    keys = [(key_of(r.model), key_of(r.source_dataset)) for r in result.records]
    keys = [k if k in history.models else (key_of(r.architecture), k[1]) for k, r in zip(keys, result.records)]
    prediction = evaluation.fit_history(history, probes=probes).predict(
        keys, probe_scores={p: result.scores[p] for p in probes}
    )
    for note in prediction.notes:
        log.warning("history: %s", note)
    column = {HISTORY_COLUMN: prediction.values}
    scores = {**column, **result.scores} if config.rank_by_history else {**result.scores, **column}
    seconds = {**result.seconds, HISTORY_COLUMN: time.perf_counter() - start}
    return dataclasses.replace(result, scores=scores, seconds=seconds)


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
    if config.history:
        result = _with_history(result, config)
    outputs = list(config.out) or [f"{stem}.csv", f"{stem}.json"]
    for out in outputs:
        result.save(out)
    return result, outputs
