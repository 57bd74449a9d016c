"""The PARC benchmark end to end: probe a bank, score it, and measure how well scores predict accuracy.

The protocol of Bolya et al., "Scalable Diverse Model Selection for Accessible Transfer Learning"
(NeurIPS 2021, Sec. 4 and 5). For every run r (probe seed 2020 + 3037 r) and target dataset t:

1. sample a probe set from t's train split and run every model of the bank over it
   (:func:`parc_jax.probing.probe_bank`; cached on disk, so a rerun only re-scores),
2. leave out the models whose source dataset is t (their transfer is not a transfer),
3. score the remaining models with every estimator (one batched `estimators.score_bank` call per
   estimator, timed after a warm-up call on each new shape),

which gives a results table in the PARC release's format (`Run, Architecture, Source Dataset,
Target Dataset, <one column per method>`). Trivial baselines are added as extra method columns:
log10 of the parameter count, the depth, and each model's mean fine-tuned accuracy on the *other*
targets (leave-target-out). The table is then compared with the fine-tuned accuracies of an
oracle table (`Architecture, Source Dataset, Target Dataset, Oracle`) by

* `evaluation.parc_protocol`: per-target Pearson x 100 averaged over targets, then mean and
  variance over runs; with and without the release's plasticity term (depth / 50),
* per (run, target) Kendall's tau-b, Vigna's weighted tau, top-1 relative accuracy and
  regret@1, averaged over targets, then mean and std over runs.

:func:`run_benchmark` does all of this for a config; :func:`run_release` does the scoring and
evaluation for the PARC release's own probe pickles. Both write the results CSV, a JSON summary,
a Markdown report and PNG plots (:mod:`parc_jax.benchmark_report`). The config fields, config
files and overrides are in :mod:`parc_jax.benchmark_config`.

This module holds the core: reading the oracle table, the leave-target-out and other baselines,
scoring probe records, the ranking metrics and :func:`evaluate`, and the two runners.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import logging
import math
import os
import pathlib
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence

import ml_collections
import numpy as np
from tqdm.auto import tqdm

from parc_jax import estimators as _estimators
from parc_jax import evaluation, ranking
from parc_jax.benchmark_config import validate_config
from parc_jax.benchmark_report import write_outputs, write_results_csv
from parc_jax.evaluation import ORACLE_COLUMNS, RESULTS_KEY
from parc_jax.evaluation._tables import key_of
from parc_jax.probe_files import ProbeRecord, read_probe_file

log = logging.getLogger(__name__)


#: Baseline columns (names as they appear in the results table).
BASELINE_PARAMS = "baseline_log10_params"
BASELINE_DEPTH = "baseline_depth"
BASELINE_OTHER_TARGETS = "baseline_oracle_other_targets"

#: Ranking metrics computed per (run, target): name -> (function of (scores, accuracies), scale).
RANKING_METRICS: dict[str, tuple[Callable, float]] = {
    "pearson": (evaluation.pearson, 100.0),
    "kendall_tau": (evaluation.kendall_tau, 1.0),
    "weighted_tau": (evaluation.weighted_tau, 1.0),
    "top1_relative_accuracy": (evaluation.top1_relative_accuracy, 100.0),
    "regret_at_1": (evaluation.regret_at_k, 1.0),
}

#: Number of classes of the PARC release's datasets (its `constants.num_classes`), used when a
#: release probe pickle does not say how many target classes there are.
RELEASE_NUM_CLASSES: Mapping[str, int] = {
    "nabird": 555,
    "oxford_pets": 37,
    "cub200": 200,
    "caltech101": 101,
    "stanford_dogs": 120,
    "voc2007": 21,
    "cifar10": 10,
    "imagenet": 1000,
}

_RUN_IN_NAME = re.compile(r"_(\d+)$")


# --------------------------------------------------------------------------------------------
# Oracle table
# --------------------------------------------------------------------------------------------


def read_oracle(path: str | os.PathLike) -> dict[tuple[str, str, str], float]:
    """The oracle CSV as {(architecture, source, target): accuracy}; empty cells read as NaN.

    Raises:
      ValueError: unreadable file, missing columns, duplicate rows or non-numeric accuracies.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in (reader.fieldnames or [])]
            missing = [c for c in ORACLE_COLUMNS if c not in header]
            if missing:
                raise ValueError(f"oracle table {str(path)!r} lacks column(s) {missing}; "
                                 f"expected {list(ORACLE_COLUMNS)}")
            table: dict[tuple[str, str, str], float] = {}
            for line, row in enumerate(reader, start=2):
                row = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
                key = (key_of(row["Architecture"]), key_of(row["Source Dataset"]), key_of(row["Target Dataset"]))
                if key in table:
                    raise ValueError(f"oracle table {str(path)!r} line {line}: {key} appears twice")
                try:
                    table[key] = float(row["Oracle"]) if row["Oracle"] else math.nan
                except ValueError:
                    raise ValueError(f"oracle table {str(path)!r} line {line}: Oracle {row['Oracle']!r} "
                                     "is not a number") from None
    except OSError as error:
        raise ValueError(f"cannot read the oracle table {str(path)!r}: {error.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"oracle table {str(path)!r} is not a readable CSV file: {error}") from None
    if not table:
        raise ValueError(f"oracle table {str(path)!r} has no rows")
    return table


def leave_target_out_accuracy(oracle: Mapping[tuple[str, str, str], float], architecture: str,
                              source: str, target: str) -> float:
    """Mean fine-tuned accuracy of one model over the oracle's other targets (NaN if none).

    b(model, t) = mean_{t' != t, oracle(model, t') > 0} oracle(model, t'): how well the model
    transfers in general, without looking at t itself.
    """
    values = [acc for (a, s, t), acc in oracle.items()
              if a == architecture and s == source and t != target and acc > 0]
    return float(np.mean(values)) if values else math.nan


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Timing:
    """Wall time of the timed (post warm-up) `score_bank` calls of one estimator."""

    seconds: list[float] = dataclasses.field(default_factory=list)
    models: list[int] = dataclasses.field(default_factory=list)

    def summary(self) -> dict[str, float]:
        total = float(np.sum(self.seconds)) if self.seconds else 0.0
        count = int(np.sum(self.models)) if self.models else 0
        return {
            "calls": len(self.seconds),
            "models_scored": count,
            "total_s": total,
            "mean_s_per_bank": total / len(self.seconds) if self.seconds else math.nan,
            "mean_ms_per_model": 1e3 * total / count if count else math.nan,
        }


def _shared_labels(records: Sequence[ProbeRecord]) -> np.ndarray:
    labels = records[0].probe.labels
    for record in records[1:]:
        if record.probe.labels.shape != labels.shape or not np.array_equal(record.probe.labels, labels):
            raise ValueError(f"{record.model} was probed on different labels than {records[0].model}; "
                             "score a bank on one probe set")
    return labels


def score_records(records: Sequence[ProbeRecord], names: Sequence[str], num_classes: int, *,
                  timings: dict[str, Timing] | None = None, warmed: set | None = None) -> dict[str, np.ndarray]:
    """Scores M models probed on the same images with every named estimator variant.

    Each estimator runs once over the whole bank (`estimators.score_bank`). When `timings` is
    given, each call is timed (`block_until_ready`) and appended to `timings[name]`; a call
    whose input shapes are not yet in `warmed` is first run once untimed, so that compilation
    is not counted.

    Args:
      records: the bank's probe sets, all with the same labels.
      names: variant names of `ranking.VARIANTS`.
      num_classes: C, the number of target classes.
      timings: where to record wall times, per variant name.
      warmed: shape signatures already compiled (updated in place).

    Returns:
      {variant name: [M] float64 scores}.
    """
    import jax  # pylint: disable=import-outside-toplevel

    labels = _shared_labels(records)
    scores = {}
    for name in names:
        estimator, options = ranking.VARIANTS[name]
        kind = _estimators.spec(estimator).input_kind
        bank = [getattr(r.probe, kind) for r in records]

        def call():
            return jax.block_until_ready(_estimators.score_bank(estimator, bank, labels, num_classes, **options))

        signature = (name, tuple(x.shape for x in bank), labels.shape, num_classes)
        if timings is not None and warmed is not None and signature not in warmed:
            call()
            warmed.add(signature)
        start = time.perf_counter()
        values = call()
        if timings is not None:
            timings.setdefault(name, Timing()).seconds.append(time.perf_counter() - start)
            timings[name].models.append(len(records))
        scores[name] = np.asarray(values, np.float64)
    return scores


def _result_rows(run: int, records: Sequence[ProbeRecord], scores: Mapping[str, np.ndarray]) -> list[dict]:
    rows = []
    for m, record in enumerate(records):
        row = {"Run": run, "Architecture": record.architecture or record.model,
               "Source Dataset": record.source_dataset, "Target Dataset": record.target_dataset}
        row.update({name: float(values[m]) for name, values in scores.items()})
        rows.append(row)
    return rows


def add_baselines(rows: list[dict], oracle: Mapping[tuple[str, str, str], float], *,
                  num_params: Mapping[str, int] | None = None,
                  depth: Mapping[str, int] | None = None) -> list[str]:
    """Adds the trivial baseline columns to results rows (in place); returns their names.

    * `baseline_log10_params`: log10 of the architecture's parameter count (bigger is better),
    * `baseline_depth`: the architecture's depth (layers), the release's plasticity heuristic alone,
    * `baseline_oracle_other_targets`: the model's mean fine-tuned accuracy on the other targets
      of the oracle table (:func:`leave_target_out_accuracy`).

    A column is left out when some architecture has no value (e.g. no parameter counts for the
    PARC release's models); a model with no other target gets NaN (an empty cell).
    """
    added = []
    archs = {row["Architecture"] for row in rows}
    for column, table, transform in ((BASELINE_PARAMS, num_params, math.log10), (BASELINE_DEPTH, depth, float)):
        if table is None:
            continue
        missing = sorted(archs - set(table))
        if missing:
            log.warning("baseline %s left out: no value for %s", column, ", ".join(missing[:5]))
            continue
        for row in rows:
            row[column] = transform(table[row["Architecture"]])
        added.append(column)
    for row in rows:
        row[BASELINE_OTHER_TARGETS] = leave_target_out_accuracy(
            oracle, key_of(row["Architecture"]), key_of(row["Source Dataset"]), key_of(row["Target Dataset"]))
    added.append(BASELINE_OTHER_TARGETS)
    return added


def check_oracle_covers(oracle: Mapping[tuple[str, str, str], float], transfers: Iterable[tuple[str, str, str]],
                        oracle_path) -> None:
    """Fails before any extraction when a (model, source, target) to score has no oracle row."""
    missing = [t for t in transfers if tuple(key_of(v) for v in t) not in oracle]
    if missing:
        example = next(iter(oracle))
        raise ValueError(
            f"oracle table {str(oracle_path)!r} has no accuracy for {len(missing)} transfer(s), e.g. "
            f"{missing[:2]} (it has e.g. {example}); use the oracle of this bank and these targets, "
            "with Architecture = the bank entry's name")


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


def _read_results(path) -> tuple[list[dict], list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        methods = [c for c in reader.fieldnames if c not in RESULTS_KEY]
    return rows, methods


def _cell(value: str) -> float:
    """A results cell as float; empty/NaN reads as 0, as the release's `fillna(0)`."""
    number = float(value) if value not in ("", None) else math.nan
    return 0.0 if math.isnan(number) else number


def ranking_metrics(results_csv, oracle_csv, *,
                    excluded_sources: Sequence[str] = evaluation.RELEASE_EXCLUDED_SOURCES) -> dict:
    """Per (run, target) ranking metrics of every method of a results table.

    For each run r and target t, over the models with a positive oracle accuracy (sources in
    `excluded_sources` left out, empty scores read as 0, both as `evaluation.parc_protocol`):
    Pearson x 100, Kendall's tau-b, weighted tau (Vigna 2015), top-1 relative accuracy in % and
    regret@1 in the oracle's units. A metric is averaged over the targets of a run, then its mean
    and population std over runs are reported.

    Returns:
      {"summary": {method: {metric: {"mean", "std"}}},
       "per_target": {method: {target: {metric: mean over runs}}},
       "per_run_target": [{"run", "target", "models", method: {metric: value}}]}
    """
    rows, methods = _read_results(results_csv)
    oracle = read_oracle(oracle_csv)
    excluded = set(excluded_sources)
    groups: dict[tuple[str, str], list[dict]] = collections.defaultdict(list)
    for row in rows:
        groups[(key_of(row["Run"]), key_of(row["Target Dataset"]))].append(row)
    per_run_target = []
    for (run, target), group in groups.items():
        keep = []
        for row in group:
            key = (key_of(row["Architecture"]), key_of(row["Source Dataset"]), target)
            acc = oracle.get(key, math.nan)
            if key[1] not in excluded and acc > 0:
                keep.append((row, acc))
        entry = {"run": run, "target": target, "models": len(keep)}
        if len(keep) >= 2:
            accuracies = np.array([acc for _, acc in keep])
            for method in methods:
                scores = np.array([_cell(row[method]) for row, _ in keep])
                entry[method] = {name: _metric(fn, scores, accuracies) * scale
                                 for name, (fn, scale) in RANKING_METRICS.items()}
        per_run_target.append(entry)
    scored = [e for e in per_run_target if e["models"] >= 2]
    if not scored:
        raise ValueError("no (run, target) of the results has 2 or more models with an oracle accuracy")
    summary, per_target = {}, {}
    runs = list(dict.fromkeys(e["run"] for e in scored))
    targets = list(dict.fromkeys(e["target"] for e in scored))
    for method in methods:
        summary[method], per_target[method] = {}, {t: {} for t in targets}
        for name in RANKING_METRICS:
            by_run = [np.mean([e[method][name] for e in scored if e["run"] == r]) for r in runs]
            summary[method][name] = {"mean": float(np.mean(by_run)), "std": float(np.std(by_run))}
            for t in targets:
                per_target[method][t][name] = float(np.mean([e[method][name] for e in scored if e["target"] == t]))
    return {"summary": summary, "per_target": per_target, "per_run_target": per_run_target}


def _metric(fn, scores: np.ndarray, accuracies: np.ndarray) -> float:
    try:
        return fn(scores, accuracies)
    except ValueError:
        return math.nan


def evaluate(results_csv, oracle_csv, *, layers: Mapping[str, int] | None = None,
             excluded_sources: Sequence[str] = evaluation.RELEASE_EXCLUDED_SOURCES) -> dict:
    """The PARC protocol (with and without plasticity) and the ranking metrics of a results table.

    Args:
      results_csv: a results table in the PARC release's format.
      oracle_csv: the oracle table.
      layers: depth of each Architecture for the plasticity term (None: the release's depths).
      excluded_sources: sources whose oracle is ignored (the release's self-supervised ones).

    Returns:
      {"pearson": parc_protocol(plasticity=False), "pearson_plasticity": parc_protocol(
      plasticity=True) or None when some architecture has no depth, plus `ranking_metrics`'
      "summary", "per_target" and "per_run_target"}.
    """
    out = {"pearson": evaluation.parc_protocol(results_csv, oracle_csv, plasticity=False,
                                               excluded_sources=excluded_sources)}
    rows, _ = _read_results(results_csv)
    depths = evaluation.RELEASE_MODEL_LAYERS if layers is None else layers
    unknown = sorted({key_of(r["Architecture"]) for r in rows} - set(depths))
    if unknown:
        log.warning("no plasticity results: no depth for architecture(s) %s", ", ".join(unknown[:5]))
        out["pearson_plasticity"] = None
    else:
        out["pearson_plasticity"] = evaluation.parc_protocol(
            results_csv, oracle_csv, plasticity=True, layers=depths, excluded_sources=excluded_sources)
    out.update(ranking_metrics(results_csv, oracle_csv, excluded_sources=excluded_sources))
    return out


# --------------------------------------------------------------------------------------------
# Running the protocol
# --------------------------------------------------------------------------------------------


def _evaluate_and_write(config: ml_collections.ConfigDict, *, rows: list[dict], estimator_names: Sequence[str],
                        baseline_names: Sequence[str], oracle: Mapping[tuple[str, str, str], float],
                        layers: Mapping[str, int] | None, timings: Mapping[str, Timing], setup: dict,
                        model_rows: list[dict], command: str) -> dict:
    """Writes results.csv to `config.output_dir`, evaluates it, then the summary, report and plots.

    Returns the summary (`benchmark_report.write_outputs`). The protocol numbers are computed from
    the written results.csv, so that a direct `evaluation.parc_protocol(output_dir/results.csv,
    oracle, ...)` call gives the same values.
    """
    out = pathlib.Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.csv"
    write_results_csv(results_path, rows, [*estimator_names, *baseline_names])
    evaluated = evaluate(results_path, config.oracle, layers=layers)
    accuracies = {(r["Architecture"], r["Source Dataset"], r["Target Dataset"]):
                  oracle.get((key_of(r["Architecture"]), key_of(r["Source Dataset"]), key_of(r["Target Dataset"])), math.nan)
                  for r in rows}
    return write_outputs(out, evaluated, rows=rows, estimator_names=estimator_names, baseline_names=baseline_names,
                         accuracies=accuracies,
                         timing={name: timings[name].summary() for name in estimator_names if name in timings},
                         setup=setup, model_rows=model_rows, plots=config.plots, command=command,
                         config=config.to_dict())


def run_benchmark(config: ml_collections.ConfigDict, *, progress: bool = True, command: str = "") -> dict:
    """Runs the PARC protocol on a bank and writes the outputs to `config.output_dir`.

    Probe sets come from the probe cache when present (a rerun only re-scores).

    Args:
      config: see :func:`parc_jax.benchmark_config.default_config`.
      progress: show progress bars.
      command: the command line, recorded in the outputs.

    Returns:
      The JSON summary (also written to `output_dir/summary.json`).

    Raises:
      ValueError: a bad config, an unknown bank or dataset, or an oracle that does not cover
        the transfers to score (checked before any extraction).
    """
    from parc_jax import models  # pylint: disable=import-outside-toplevel
    from parc_jax.bank import load_bank  # pylint: disable=import-outside-toplevel
    from parc_jax.probing import default_cache_dir, probe_bank  # pylint: disable=import-outside-toplevel

    names = validate_config(config)
    bank = load_bank(config.bank)
    oracle = read_oracle(config.oracle)
    plan = {t: [e for e in bank if e.source_dataset != t] for t in config.targets}
    for target, entries in plan.items():
        if len(entries) < 2:
            raise ValueError(f"target {target!r}: {len(entries)} model(s) of the bank are not trained on it; "
                             "the protocol needs at least 2")
    check_oracle_covers(oracle, [(e.name, e.source_dataset, t) for t, es in plan.items() for e in es], config.oracle)
    infos = {e.name: models.describe(e.model) for e in bank}
    depth = {e.name: infos[e.name].depth for e in bank}

    start = time.perf_counter()
    rows, timings, warmed, probe_seconds = [], {}, set(), 0.0
    pairs = [(r, t) for r in range(config.runs) for t in config.targets]
    bar = tqdm(pairs, desc="benchmark", unit="probe", disable=not progress)
    for run, target in bar:
        bar.set_postfix_str(f"run {run} {target}")
        tick = time.perf_counter()
        records = probe_bank(
            plan[target], target, split=config.split, budget=config.budget, run=run, sampler=config.sampler,
            data_dir=config.data_dir or None, cache_dir=config.cache_dir or None, batch_size=config.batch_size,
            strategy=config.strategy, dtype=config.dtype, progress=progress)
        probe_seconds += time.perf_counter() - tick
        records = [dataclasses.replace(r, architecture=r.model) for r in records]  # Architecture = entry name
        scores = score_records(records, names, records[0].num_classes, timings=timings, warmed=warmed)
        rows.extend(_result_rows(run, records, scores))
    baselines = add_baselines(rows, oracle, num_params={e.name: infos[e.name].num_params for e in bank},
                              depth=depth) if config.baselines else []
    wall = time.perf_counter() - start

    model_rows = [{"model": e.name, "architecture": e.model, "source_dataset": e.source_dataset,
                   "num_params": infos[e.name].num_params, "depth": infos[e.name].depth,
                   "image_size": e.image_size or infos[e.name].preprocessing.input_size,
                   "weights": "random" if e.weights == "random" else ("pretrained" if e.weights is None else "trained")}
                  for e in bank]
    setup = {
        "mode": "bank", "bank": config.bank, "models": len(bank), "targets": list(config.targets),
        "runs": config.runs, "budget": config.budget, "split": config.split, "sampler": config.sampler,
        "oracle": str(config.oracle), "cache_dir": str(config.cache_dir or default_cache_dir()),
        "dtype": config.dtype, "wall_s": wall, "probe_s": probe_seconds,
    }
    return _evaluate_and_write(config, rows=rows, estimator_names=names, baseline_names=baselines, oracle=oracle,
                               layers=depth, timings=timings, setup=setup, model_rows=model_rows, command=command)


def find_release_probes(directory: str | os.PathLike) -> dict[int, list[pathlib.Path]]:
    """The PARC release's probe pickles under `directory`, grouped by run.

    The release caches each probe set as `cache/probes/fixed_budget_500/<architecture>_<source>_
    <target>_<run>.pkl` (its evaluate.py); `directory` may be any folder above them. The run is
    read from the file name, everything else from the pickle's dict.

    Raises:
      ValueError: no pickles, or a file name that does not end in `_<run>`.
    """
    root = pathlib.Path(directory)
    if not root.is_dir():
        raise ValueError(f"--parc-release-probes {str(root)!r} is not a directory")
    paths = sorted(p for p in root.rglob("*") if p.suffix in (".pkl", ".pickle") and p.is_file())
    if not paths:
        raise ValueError(f"no .pkl probe files under {str(root)!r}; expected the PARC release's "
                         "probes (cache/probes/fixed_budget_500/<architecture>_<source>_<target>_<run>.pkl)")
    by_run: dict[int, list[pathlib.Path]] = collections.defaultdict(list)
    for path in paths:
        match = _RUN_IN_NAME.search(path.stem)
        if not match:
            raise ValueError(f"{path}: the file name does not end in _<run> (the release names probes "
                             "<architecture>_<source>_<target>_<run>.pkl)")
        by_run[int(match.group(1))].append(path)
    return dict(sorted(by_run.items()))


def _release_num_classes(records: Sequence[ProbeRecord], target: str) -> int:
    stated = {r.num_classes for r in records if r.num_classes is not None}
    if len(stated) > 1:
        raise ValueError(f"probes of target {target!r} disagree on the number of classes: {sorted(stated)}")
    seen = int(max(int(np.max(r.probe.labels)) for r in records)) + 1
    count = stated.pop() if stated else RELEASE_NUM_CLASSES.get(target, seen)
    if count < seen:
        raise ValueError(f"target {target!r}: labels go up to {seen - 1} but the dataset has {count} classes")
    return count


def run_release(directory: str | os.PathLike, config: ml_collections.ConfigDict, *,
                progress: bool = True, command: str = "") -> dict:
    """Reproduces the PARC release's evaluation from its probe pickles and oracle table.

    Every pickle (one model, source, target and run) is scored with every estimator of the
    config, as the release's `Experiment` does, transfers with source == target left out; the
    resulting table is evaluated with the release's protocol (its depths for plasticity) and
    the ranking metrics. Pickles are loaded one run at a time, and the models of one (run,
    target) that share a probe set are scored as one bank.

    Args:
      directory: folder holding the release's probes (searched recursively).
      config: estimators, oracle, output_dir and plots are used.
      progress: show progress bars.
      command: the command line, recorded in the outputs.

    Returns:
      The JSON summary (also written to `output_dir/summary.json`).
    """
    names = validate_config(config, release=True)
    oracle = read_oracle(config.oracle)
    by_run = find_release_probes(directory)
    start = time.perf_counter()
    rows, timings, warmed, skipped_multilabel = [], {}, set(), set()
    total = sum(len(p) for p in by_run.values())
    bar = tqdm(total=total, desc="release probes", unit="file", disable=not progress)
    for run, paths in by_run.items():
        groups: dict[tuple, list[ProbeRecord]] = collections.defaultdict(list)
        for path in paths:
            record = read_probe_file(path)
            bar.update()
            missing = [f for f in ("architecture", "source_dataset", "target_dataset") if not getattr(record, f)]
            if missing:
                raise ValueError(f"{path}: the pickle lacks {', '.join(missing)} (the release stores them in its dict)")
            if record.source_dataset == record.target_dataset:
                continue  # probed for RSA/DDS references only; not a transfer
            if record.probe.labels.ndim != 1:
                skipped_multilabel.add(record.target_dataset)
                continue
            labels = np.ascontiguousarray(record.probe.labels)
            groups[(record.target_dataset, labels.shape, labels.tobytes())].append(record)
        for (target, _, _), records in groups.items():
            records = [dataclasses.replace(r, model=f"{r.architecture}/{r.source_dataset}") for r in records]
            scores = score_records(records, names, _release_num_classes(records, target),
                                   timings=timings, warmed=warmed)
            rows.extend(_result_rows(run, records, scores))
    bar.close()
    if skipped_multilabel:
        log.warning("skipped multi-label targets %s (only PARC scores multi-hot labels)", sorted(skipped_multilabel))
    if not rows:
        raise ValueError(f"no transfers (source != target) among the probes under {str(directory)!r}")
    transfers = {(r["Architecture"], r["Source Dataset"], r["Target Dataset"]) for r in rows}
    check_oracle_covers(oracle, sorted(transfers), config.oracle)
    archs = sorted({r["Architecture"] for r in rows})
    known_depth = {a: evaluation.RELEASE_MODEL_LAYERS[a] for a in archs if a in evaluation.RELEASE_MODEL_LAYERS}
    baselines = add_baselines(rows, oracle, depth=known_depth) if config.baselines else []
    models_seen = sorted({(r["Architecture"], r["Source Dataset"]) for r in rows})
    model_rows = [{"model": f"{a}/{s}", "architecture": a, "source_dataset": s,
                   "depth": evaluation.RELEASE_MODEL_LAYERS.get(a)} for a, s in models_seen]
    setup = {
        "mode": "parc_release", "probes": str(directory), "models": len(models_seen),
        "targets": sorted({r["Target Dataset"] for r in rows}), "runs": len(by_run),
        "oracle": str(config.oracle), "wall_s": time.perf_counter() - start,
    }
    return _evaluate_and_write(config, rows=rows, estimator_names=names, baseline_names=baselines, oracle=oracle,
                               layers=None, timings=timings, setup=setup, model_rows=model_rows, command=command)
