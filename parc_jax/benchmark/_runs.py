"""The PARC benchmark end to end: probe a bank, score it, and measure how well scores predict accuracy.

The protocol of Bolya et al., "Scalable Diverse Model Selection for Accessible Transfer Learning"
(NeurIPS 2021, Sec. 4 and 5). For every run r (probe seed 2020 + 3037 r) and target dataset t:

1. sample a probe set from t's train split and run every model of the bank over it
   (:func:`parc_jax.bank.probe_bank`; cached on disk, so a rerun only re-scores),
2. leave out the models whose source dataset is t (their transfer is not a transfer),
3. score the remaining models with every estimator (:func:`parc_jax.bank.score_records`: one batched
   `estimators.score_bank` call per estimator, timed after a warm-up call on each new shape),

which gives a results table in the PARC release's format (`Run, Architecture, Source Dataset,
Target Dataset, <one column per method>`), with the trivial baselines of
:func:`parc_jax.evaluation.add_baselines` as extra columns, evaluated against an oracle table by
:func:`parc_jax.evaluation.evaluate`.

:func:`run_benchmark` does all of this for a config; :func:`run_release` does the scoring and
evaluation for the PARC release's own probe pickles. Both write the results CSV, a JSON summary,
a Markdown report and PNG plots (:mod:`parc_jax.benchmark._report`).
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import os
import pathlib
import re
import time
from collections.abc import Mapping, Sequence

import ml_collections
import numpy as np
from tqdm.auto import tqdm

from parc_jax import evaluation
from parc_jax.bank import REFERENCE_VARIANTS, ProbeRecord, Timing, read_probe_file, score_records
from parc_jax.benchmark._config import validate_config
from parc_jax.benchmark._report import write_outputs, write_results_csv
from parc_jax.evaluation import RELEASE_NUM_CLASSES, add_baselines, check_oracle_covers, key_of, read_oracle

log = logging.getLogger(__name__)


_RUN_IN_NAME = re.compile(r"_(\d+)$")


def _result_rows(run: int, records: Sequence[ProbeRecord], scores: Mapping[str, np.ndarray]) -> list[dict]:
    rows = []
    for m, record in enumerate(records):
        row = {
            "Run": run,
            "Architecture": record.architecture or record.model,
            "Source Dataset": record.source_dataset,
            "Target Dataset": record.target_dataset,
        }
        row.update({name: float(values[m]) for name, values in scores.items()})
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------
# Running the protocol
# --------------------------------------------------------------------------------------------


def _evaluate_and_write(
    config: ml_collections.ConfigDict,
    *,
    rows: list[dict],
    estimator_names: Sequence[str],
    baseline_names: Sequence[str],
    oracle: Mapping[tuple[str, str, str], float],
    layers: Mapping[str, int] | None,
    timings: Mapping[str, Timing],
    setup: dict,
    model_rows: list[dict],
    command: str,
) -> dict:
    """Writes results.csv to `config.output_dir`, evaluates it, then the summary, report and plots.

    With `config.history`, the history-aware prediction is added first (a method column, and the
    prior alone as a baseline when probes correct it). Returns the summary (`_report.write_outputs`).
    The protocol numbers are computed from the written results.csv, so that a direct
    `evaluation.parc_protocol(output_dir/results.csv, oracle, ...)` call gives the same values.
    """
    if config.history:
        num_params = {r["model"]: r["num_params"] for r in model_rows if r.get("num_params")}
        depth = layers or evaluation.RELEASE_MODEL_LAYERS
        history = evaluation.read_history(config.history, num_params=num_params, depth=depth)
        added = evaluation.add_history_columns(
            rows, history, probes=list(config.history_probes), num_params=num_params, depth=depth
        )
        estimator_names, baseline_names = [*estimator_names, added[0]], [*baseline_names, *added[1:]]
    out = pathlib.Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.csv"
    write_results_csv(results_path, rows, [*estimator_names, *baseline_names])
    evaluated = evaluation.evaluate(results_path, config.oracle, layers=layers)
    accuracies = {
        (r["Architecture"], r["Source Dataset"], r["Target Dataset"]): oracle.get(
            (key_of(r["Architecture"]), key_of(r["Source Dataset"]), key_of(r["Target Dataset"])), math.nan
        )
        for r in rows
    }
    return write_outputs(
        out,
        evaluated,
        rows=rows,
        estimator_names=estimator_names,
        baseline_names=baseline_names,
        accuracies=accuracies,
        timing={name: timings[name].summary() for name in estimator_names if name in timings},
        setup=setup,
        model_rows=model_rows,
        plots=config.plots,
        command=command,
        config=config.to_dict(),
    )


def run_benchmark(config: ml_collections.ConfigDict, *, progress: bool = True, command: str = "") -> dict:
    """Runs the PARC protocol on a bank and writes the outputs to `config.output_dir`.

    Probe sets come from the probe cache when present (a rerun only re-scores).

    Args:
      config: see :func:`parc_jax.benchmark.default_config`.
      progress: show progress bars.
      command: the command line, recorded in the outputs.

    Returns:
      The JSON summary (also written to `output_dir/summary.json`).

    Raises:
      ValueError: a bad config, an unknown bank or dataset, or an oracle that does not cover
        the transfers to score (checked before any extraction).
    """
    from parc_jax import models  # pylint: disable=import-outside-toplevel
    from parc_jax.bank import default_cache_dir, load_bank, probe_bank  # pylint: disable=import-outside-toplevel

    names = validate_config(config)
    bank = load_bank(config.bank)
    oracle = read_oracle(config.oracle)
    plan = {t: [e for e in bank if e.source_dataset != t] for t in config.targets}
    for target, entries in plan.items():
        if len(entries) < 2:
            raise ValueError(
                f"target {target!r}: {len(entries)} model(s) of the bank are not trained on it; "
                "the protocol needs at least 2"
            )
    check_oracle_covers(oracle, [(e.name, e.source_dataset, t) for t, es in plan.items() for e in es], config.oracle)
    infos = {e.name: models.describe(e.model) for e in bank}
    depth = {e.name: infos[e.name].depth for e in bank}
    reference_of = _bank_references(config, bank, plan, names)

    start = time.perf_counter()
    rows, timings, warmed, probe_seconds = [], {}, set(), 0.0
    pairs = [(r, t) for r in range(config.runs) for t in config.targets]
    bar = tqdm(pairs, desc="benchmark", unit="probe", disable=not progress)
    for run, target in bar:
        bar.set_postfix_str(f"run {run} {target}")
        tick = time.perf_counter()
        references_needed = {reference_of[(e.name, target)] for e in plan[target]} if reference_of else set()
        probed = probe_bank(
            plan[target] + [e for e in bank if e.name in references_needed and e not in plan[target]],
            target,
            split=config.split,
            budget=config.budget,
            run=run,
            sampler=config.sampler,
            data_dir=config.data_dir or None,
            cache_dir=config.cache_dir or None,
            batch_size=config.batch_size,
            strategy=config.strategy,
            dtype=config.dtype,
            progress=progress,
            label_key=config.label_key or None,
        )
        probe_seconds += time.perf_counter() - tick
        features = {r.model: r.probe.features for r in probed}
        records = [
            dataclasses.replace(r, architecture=r.model) for r in probed[: len(plan[target])]
        ]  # Architecture = entry name
        references = [features[reference_of[(r.model, target)]] for r in records] if reference_of else None
        scores = score_records(
            records, names, records[0].num_classes, references=references, timings=timings, warmed=warmed
        )
        rows.extend(_result_rows(run, records, scores))
    baselines = (
        add_baselines(rows, oracle, num_params={e.name: infos[e.name].num_params for e in bank}, depth=depth)
        if config.baselines
        else []
    )
    wall = time.perf_counter() - start

    model_rows = [
        {
            "model": e.name,
            "architecture": e.model,
            "source_dataset": e.source_dataset,
            "num_params": infos[e.name].num_params,
            "depth": infos[e.name].depth,
            "image_size": e.image_size or infos[e.name].preprocessing.input_size,
            "weights": "random" if e.weights == "random" else ("pretrained" if e.weights is None else "trained"),
        }
        for e in bank
    ]
    setup = {
        "mode": "bank",
        "bank": config.bank,
        "models": len(bank),
        "targets": list(config.targets),
        "runs": config.runs,
        "budget": config.budget,
        "split": config.split,
        "sampler": config.sampler,
        "oracle": str(config.oracle),
        "cache_dir": str(config.cache_dir or default_cache_dir()),
        "dtype": config.dtype,
        "wall_s": wall,
        "probe_s": probe_seconds,
    }
    return _evaluate_and_write(
        config,
        rows=rows,
        estimator_names=names,
        baseline_names=baselines,
        oracle=oracle,
        layers=depth,
        timings=timings,
        setup=setup,
        model_rows=model_rows,
        command=command,
    )


def _bank_references(config, bank, plan, names) -> dict[tuple[str, str], str]:
    """{(entry name, target): name of its reference entry} when a reference variant is scored, else {}."""
    if not any(n in REFERENCE_VARIANTS for n in names):
        return {}
    out = {
        (entry.name, target): config.reference_model.format(
            architecture=entry.model, target=target, source=entry.source_dataset
        )
        for target, entries in plan.items()
        for entry in entries
    }
    missing = sorted(set(out.values()) - {e.name for e in bank})
    if missing:
        raise ValueError(f"config.reference_model names entries the bank does not have: {', '.join(missing)}")
    return out


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
        raise ValueError(f"the release's probe folder {str(root)!r} is not a directory")
    paths = sorted(p for p in root.rglob("*") if p.suffix in (".pkl", ".pickle") and p.is_file())
    if not paths:
        raise ValueError(
            f"no .pkl probe files under {str(root)!r}; expected the PARC release's "
            "probes (cache/probes/fixed_budget_500/<architecture>_<source>_<target>_<run>.pkl)"
        )
    by_run: dict[int, list[pathlib.Path]] = collections.defaultdict(list)
    for path in paths:
        match = _RUN_IN_NAME.search(path.stem)
        if not match:
            raise ValueError(
                f"{path}: the file name does not end in _<run> (the release names probes "
                "<architecture>_<source>_<target>_<run>.pkl)"
            )
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


def _release_references(
    records: Sequence[ProbeRecord], target: str, own: Mapping[tuple[str, str], np.ndarray], names: Sequence[str]
) -> list[np.ndarray] | None:
    """RSA/DDS references of the release: the probe of the same architecture whose source is the target."""
    if not any(n in REFERENCE_VARIANTS for n in names):
        return None
    missing = sorted({r.architecture for r in records} - {a for a, t in own if t == target})
    if missing:
        raise ValueError(
            f"RSA/DDS on {target!r} need the release's probes of {', '.join(missing)} trained on "
            f"{target} (<architecture>_{target}_{target}_<run>.pkl); leave rsa/dds out or add them"
        )
    return [own[(r.architecture, target)] for r in records]


def run_release(
    directory: str | os.PathLike, config: ml_collections.ConfigDict, *, progress: bool = True, command: str = ""
) -> dict:
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
        own: dict[tuple[str, str], np.ndarray] = {}  # (architecture, dataset) -> features of a source == target probe
        for path in paths:
            record = read_probe_file(path)
            bar.update()
            missing = [f for f in ("architecture", "source_dataset", "target_dataset") if not getattr(record, f)]
            if missing:
                raise ValueError(f"{path}: the pickle lacks {', '.join(missing)} (the release stores them in its dict)")
            if record.source_dataset == record.target_dataset:
                own[(record.architecture, record.target_dataset)] = record.probe.features
                continue  # the reference of RSA and DDS for this architecture and target; not a transfer
            if record.probe.labels.ndim != 1:
                skipped_multilabel.add(record.target_dataset)
                continue
            labels = np.ascontiguousarray(record.probe.labels)
            groups[(record.target_dataset, labels.shape, labels.tobytes())].append(record)
        for (target, _, _), records in groups.items():
            records = [dataclasses.replace(r, model=f"{r.architecture}/{r.source_dataset}") for r in records]
            references = _release_references(records, target, own, names)
            scores = score_records(
                records,
                names,
                _release_num_classes(records, target),
                references=references,
                timings=timings,
                warmed=warmed,
            )
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
    baselines = (
        add_baselines(rows, oracle, depth=known_depth, heuristic_oracle=config.oracle) if config.baselines else []
    )
    models_seen = sorted({(r["Architecture"], r["Source Dataset"]) for r in rows})
    model_rows = [
        {"model": f"{a}/{s}", "architecture": a, "source_dataset": s, "depth": evaluation.RELEASE_MODEL_LAYERS.get(a)}
        for a, s in models_seen
    ]
    setup = {
        "mode": "parc_release",
        "probes": str(directory),
        "models": len(models_seen),
        "targets": sorted({r["Target Dataset"] for r in rows}),
        "runs": len(by_run),
        "oracle": str(config.oracle),
        "wall_s": time.perf_counter() - start,
    }
    return _evaluate_and_write(
        config,
        rows=rows,
        estimator_names=names,
        baseline_names=baselines,
        oracle=oracle,
        layers=None,
        timings=timings,
        setup=setup,
        model_rows=model_rows,
        command=command,
    )
