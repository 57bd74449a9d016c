"""Fine-tune every (model, target) pair of a bank and write the oracle table.

The oracle table has the PARC release's format (``Architecture,Source Dataset,Target
Dataset,Oracle``, Oracle = test accuracy in %), one row per finished pair, in pair order. Each
pair lives in ``workdir/pairs/<model>__<target>/`` with its ``result.json`` (hyperparameters,
grid, curves, time); finished pairs are skipped on a rerun, unfinished ones resume from their
checkpoints. The table is rewritten atomically after every pair.

Multi-host (``jax.distributed``): ``split="data"`` trains each pair on the devices of all
processes together (process 0 writes); ``split="pairs"`` gives pair i to process
``i mod P``, trained on that process's own devices. Every process rewrites the table from the
results on the (shared) disk after each of its pairs; at the end all processes wait for each
other, process 0 writes the whole table, and every process returns all rows.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import pathlib
import re
import time
from collections.abc import Sequence

import jax
import ml_collections
import tqdm
from jax.experimental import multihost_utils

from parc_jax import models, parallel
from parc_jax._io import atomic_write
from parc_jax.bank import BankEntry
from parc_jax.evaluation import ORACLE_COLUMNS
from parc_jax.finetune._config import validate_config
from parc_jax.finetune._finetune import check_workdir, finetune
from parc_jax.finetune._run import read_json
from parc_jax.finetune._sources import entry_backbone, finetune_pair, load_target
from parc_jax.finetune._trainer import global_mesh

log = logging.getLogger(__name__)

SPLITS = ("data", "pairs")


def pair_dirname(model: str, target: str) -> str:
    """``<model>__<target>`` with anything outside ``[A-Za-z0-9._-]`` replaced by ``_``."""
    clean = lambda s: re.sub(r"[^A-Za-z0-9._-]", "_", s.strip("/"))
    return f"{clean(model)}__{clean(target)}"


def write_oracle_table(rows: Sequence[dict], path: str | os.PathLike) -> None:
    """Writes ``rows`` (dicts with the :data:`ORACLE_COLUMNS`) as CSV, atomically."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(ORACLE_COLUMNS)
    for r in rows:
        writer.writerow([r[c] for c in ORACLE_COLUMNS])
    atomic_write(path, buf.getvalue())


def _pair_results(pairs, workdir) -> list[dict]:
    out = []
    for model, target in pairs:
        path = workdir / "pairs" / pair_dirname(model, target) / "result.json"
        if path.exists():
            out.append(read_json(path))
    return out


def write_oracle_summary(results: Sequence[dict], path: str | os.PathLike, *, command: str | None = None) -> None:
    """Writes a Markdown table of finished pairs (``result.json`` dicts), atomically.

    One row per pair: oracle (test accuracy, %), the selected learning rate and weight decay,
    every grid point's validation accuracy, train / validation / test sizes, steps of the
    reported run, input size and training time; then the protocol shared by the pairs.
    """
    lines = [
        "| Architecture | Source | Target | Oracle (%) | lr | wd | val acc per lr (%) | "
        "train / val / test | steps | px | time (s) |",
        "|---" * 11 + "|",
    ]
    for r in results:
        grid = (
            ", ".join(
                f"{g['learning_rate']:g}: "
                + (f"{g['val_accuracy']:.1f}" if g["val_accuracy"] is not None else g["status"])
                for g in r["grid"]
            )
            or "-"
        )
        size = r.get("input_size", "")
        lines.append(
            f"| {r['model']} | {r['source_dataset']} | {r['target']} | {r['test_accuracy']:.2f} | "
            f"{r['selected']['learning_rate']:g} | {r['selected']['weight_decay']:g} | {grid} | "
            f"{r['num_train'] - r['num_val']} / {r['num_val']} / {r['num_test']} | "
            f"{r['final'].get('steps', '')} | {size} | {r['time_s']:.0f} |"
        )
    if results:
        c = results[0]["config"]
        total = sum(r["time_s"] for r in results)
        lines += [
            "",
            f"{len(results)} pairs, {total / 60:.1f} min of training in all. Protocol: mode "
            f"{c['mode']}, {c['optimizer']} (momentum {c['momentum']}), batch {c['batch_size']}, "
            f"{c['num_steps'] or c['num_epochs']} {'steps' if c['num_steps'] else 'epochs'}, "
            f"warmup {c['warmup_fraction']:g} + cosine, grid lr {tuple(c['learning_rates'])} x wd "
            f"{tuple(c['weight_decays'])} selected on a {c['val_fraction']:g} validation split, final "
            f"{results[0]['protocol']}, train subsample {c['max_train_examples'] or 'all'}, test "
            f"subsample {c['max_test_examples'] or 'all'}, augment {c['augment']} (scale "
            f"{tuple(c['augment_scale'])}, flip {c['augment_flip']}), seed {c['seed']}.",
        ]
    if command:
        lines += ["", f"Command: `{command}`"]
    atomic_write(path, "\n".join(lines) + "\n")


def _oracle_rows(pairs, workdir):
    rows = []
    for model, target in pairs:
        path = workdir / "pairs" / pair_dirname(model, target) / "result.json"
        if path.exists():
            res = read_json(path)
            rows.append(
                {
                    "Architecture": model,
                    "Source Dataset": res["source_dataset"],
                    "Target Dataset": target,
                    "Oracle": round(res["test_accuracy"], 4),
                }
            )
    return rows


def run_bank(
    model_names: Sequence[str | BankEntry],
    target_names: Sequence[str],
    config: ml_collections.ConfigDict,
    workdir: str | os.PathLike,
    *,
    data_dir: str | os.PathLike | None = None,
    skip_own_source: bool = True,
    split: str = "data",
    export_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> list[dict]:
    """Fine-tunes every (model, target) pair and writes ``workdir/oracle.csv``.

    Args:
      model_names: zoo names (their default pretrained weights), or bank entries
        (:func:`parc_jax.bank.load_bank`): the entry's name is the ``Architecture`` of the table,
        its weights and ``source_dataset`` are used, and it is fine-tuned at the entry's
        ``image_size`` when set (else ``config.image_size``).
      target_names: dataset names for :func:`parc_jax.data.load`.
      config: the fine-tuning config, shared by all pairs.
      workdir: the bank's directory.
      data_dir: prepared datasets.
      skip_own_source: leave out pairs whose model was trained on the target itself (as the
        PARC release does).
      split: multi-host work split, ``"data"`` or ``"pairs"`` (module docstring).
      export_dir: ``mode="scratch"``: save every trained model as
        ``export_dir/<model>__<target>/`` (:func:`parc_jax.models.save_params`).
      progress: a tqdm bar over pairs with ETA (plus one per run), on process 0 only.

    Returns:
      The oracle rows of all finished pairs (the table's content).

    Raises:
      ValueError: unknown model or dataset, bad config or workdir, before any training.
    """
    validate_config(config)
    if export_dir is not None and config.mode != "scratch":
        raise ValueError("export_dir saves models trained with mode='scratch'; set config.mode=scratch")
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not one of {', '.join(SPLITS)}")
    if not model_names or not target_names:
        raise ValueError("the bank needs at least one model and one target")
    entries = {m.name: m for m in model_names if isinstance(m, BankEntry)}
    if entries and config.mode == "scratch":
        raise ValueError("mode=scratch ignores bank weights; train from scratch on zoo model names instead of a bank")
    model_names = [m.name if isinstance(m, BankEntry) else m for m in model_names]
    known = set(models.names())
    unknown = [
        entries[m].model if m in entries else m
        for m in model_names
        if (entries[m].model if m in entries else m) not in known
    ]
    if unknown:
        raise ValueError(f"unknown model(s) {', '.join(unknown)}; known models: {', '.join(sorted(known))}")
    workdir = check_workdir(workdir)
    targets = {
        name: load_target(name, data_dir=data_dir, train_split=config.train_split, test_split=config.test_split)
        for name in target_names
    }
    pairs, sources = [], {m: e.source_dataset for m, e in entries.items() if e.source_dataset}
    for model in model_names:
        for target in target_names:
            done = (workdir / "pairs" / pair_dirname(model, target) / "result.json").exists()
            if skip_own_source and not done:
                if model not in sources:
                    sources[model] = _source_of(entries[model].model if model in entries else model, config)
                if sources[model] == target:
                    log.info("skipping %s on %s: its own source dataset", model, target)
                    continue
            pairs.append((model, target))
    if split == "pairs":
        me, count = jax.process_index(), jax.process_count()
        mine = [p for i, p in enumerate(pairs) if i % count == me]
        mesh, writer = parallel.data_mesh(), True
    else:
        mine, mesh, writer = pairs, global_mesh(), jax.process_index() == 0
    oracle_path = workdir / "oracle.csv"
    finished = sum((workdir / "pairs" / pair_dirname(m, t) / "result.json").exists() for m, t in mine)
    bar = tqdm.tqdm(
        total=len(mine),
        initial=finished,
        desc="bank",
        unit="pair",
        disable=not (progress and writer),
        dynamic_ncols=True,
    )
    t0 = time.perf_counter()
    with bar:
        for model, target in mine:
            pair_dir = workdir / "pairs" / pair_dirname(model, target)
            export = None if export_dir is None else pathlib.Path(export_dir).absolute() / pair_dirname(model, target)
            if (pair_dir / "result.json").exists() and (export is None or export.is_dir()):
                continue
            bar.set_postfix_str(f"{model} -> {target}")
            if model in entries:
                backbone, pair_config = entry_backbone(entries[model], config)
                res = finetune(backbone, targets[target], pair_config, pair_dir, mesh=mesh, progress=progress)
            else:
                res = finetune_pair(
                    model,
                    target,
                    config,
                    pair_dir,
                    data_dir=data_dir,
                    mesh=mesh,
                    progress=progress,
                    target=targets[target],
                    export=export,
                )
            bar.update(1)
            if writer:
                log.info(
                    "%s -> %s: test accuracy %.2f%% (lr %g, wd %g)",
                    model,
                    target,
                    res["test_accuracy"],
                    res["selected"]["learning_rate"],
                    res["selected"]["weight_decay"],
                )
                write_oracle_table(_oracle_rows(pairs, workdir), oracle_path)
                write_oracle_summary(_pair_results(pairs, workdir), workdir / "oracle.md")
    if split == "pairs" and jax.process_count() > 1:
        # Wait for every process's pairs: the final table is then whole, written by process 0 only
        # (a process finishing last could otherwise replace it with a table read earlier).
        multihost_utils.sync_global_devices("parc_jax.finetune.run_bank")
        writer = jax.process_index() == 0
    rows = _oracle_rows(pairs, workdir)
    if writer:
        write_oracle_table(rows, oracle_path)
        write_oracle_summary(_pair_results(pairs, workdir), workdir / "oracle.md")
        log.info(
            "bank: %d/%d pairs finished in %.0f s; oracle table %s",
            len(rows),
            len(pairs),
            time.perf_counter() - t0,
            oracle_path,
        )
    return rows


def _source_of(model: str, config: ml_collections.ConfigDict) -> str:
    if config.mode == "scratch":
        return "none"
    return models.load(model).info.source_dataset
