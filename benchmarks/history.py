"""How well past fine-tunes predict a new target's ranking, with and without a probe: the results table.

Every number is out of sample. History rows are predicted leave-one-target-out (the target's column,
accuracies and probe scores, is never in the fit) or leave-one-model-out (the model's whole row and
the target's column are left out: a model new to the history). Three kinds of data:

1. the PARC release's oracles (prior only; the release's 6 evaluation targets, voc2007 kept as
   history), beside depth, the static ranker and the release's learned heuristic (leave-one-target-out,
   fitted on the same rows as the prior);
2. the published tables of parc_jax/evaluation/tables/history (prior only); cnn_head is the
   head-only table whose protocol te-guide does not give (flagged); the text tables are the main
   setting's runs, repeats averaged, as in that folder's README;
3. the offline bank with its probe scores (benchmarks/results/offline/results.csv, 5 runs) and its
   oracle: prior + probe, every estimator alone, per run, then mean and std over runs.

Metrics per target, averaged over targets: weighted tau, Kendall's tau-b, Pearson x 100, regret@1
(accuracy points). "gain" is the weighted-tau difference to the history prior of the same section.

Usage (single-threaded BLAS: the solves are small and threads only contend)::

  OPENBLAS_NUM_THREADS=1 python benchmarks/history.py

Writes benchmarks/results/history.json and history.md.
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import math
import pathlib
import sys
import time

import numpy as np

from parc_jax import evaluation
from parc_jax._io import atomic_write, machine_stamp
from parc_jax.evaluation import METADATA_DEPTH, METADATA_PARAMS, History

ROOT = pathlib.Path(__file__).resolve().parent
RESULTS = ROOT / "results"
TABLES = pathlib.Path(evaluation.__file__).resolve().parent / "tables" / "history"
OFFLINE_ESTIMATORS = ("parc_f32", "parc", "logme", "leep", "nce", "nce_eps", "hscore", "hscore_shrunk", "knn1", "knn5")
METRICS = ("weighted_tau", "kendall_tau", "pearson", "regret_at_1")
PUBLISHED = {  # name -> (table, flag)
    "cnn_full": ("history_tebench_cnn_full", ""),
    "cnn_head": ("history_tebench_cnn_head", "head-only, protocol not given by te-guide"),
    "cnn_ssl": ("history_tebench_cnn_ssl", "all ResNet-50: no size signal"),
    "vit": ("history_tebench_vit", "3 PVT models have no Params"),
    "itm": ("history_tebench_itm", ""),
    "tg_image": ("history_transfergraph_image", "sparse; food101 mostly at chance"),
    "tg_text_full": ("text:full_finetune:2e-05", "sparse; repeats averaged"),
    "tg_text_lora": ("text:lora_r1:0.0004", "sparse; repeats averaged"),
}


def _static(history: History) -> dict:
    """The static ranker: each model's mean accuracy over the other targets (NaN without one)."""
    out = {}
    for j, target in enumerate(history.targets):
        others = np.delete(history.accuracy, j, axis=1)
        seen = np.isfinite(others).any(axis=1)
        means = np.where(seen, np.nanmean(np.where(seen[:, None], others, 0.0), axis=1), np.nan)
        out[target] = dict(zip(history.models, means))
    return out


def _constant(history: History, values: np.ndarray) -> dict:
    """A per-model score (size, depth) used on every target."""
    return {t: dict(zip(history.models, values)) for t in history.targets}


def _summary(scores: dict, history: History, targets) -> dict:
    scores = {t: scores[t] for t in targets}
    return evaluation.ranking_summary(scores, history)


def _methods(history: History, targets, *, metadata: tuple[str, ...], lomo: bool, oracle=None) -> dict:
    """Every method of one history table (prior only), as {name: ranking_summary}."""
    out = {"history prior": _summary(evaluation.leave_one_target_out(history, targets=targets), history, targets)}
    for name in metadata:
        out[f"history prior + {name}"] = _summary(
            evaluation.leave_one_target_out(history, targets=targets, metadata=[name]), history, targets
        )
    out["static (mean of other targets)"] = _summary(_static(history), history, targets)
    for name in metadata:
        out[name] = _summary(_constant(history, history.metadata[name]), history, targets)
    if oracle is not None:
        heuristic = {}
        for target in targets:  # fitted on the other targets' rows only, inside `learned_heuristic`
            values = evaluation.learned_heuristic(oracle, [(a, s, target) for a, s in history.models])
            heuristic[target] = dict(zip(history.models, values))
        out["learned heuristic (release)"] = _summary(heuristic, history, targets)
    if lomo and metadata:
        out[f"new model: {' + '.join(metadata)} (LOMO)"] = _summary(
            evaluation.leave_one_model_out(history, targets=targets, metadata=list(metadata)), history, targets
        )
    return out


def _text_rows(setting: str, learning_rate: str) -> list[dict]:
    """The TransferGraph text table's main configuration of a setting, repeat runs averaged."""
    groups, params = collections.defaultdict(list), {}
    with open(TABLES / "transfergraph_text.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["Setting"] == setting and row["Learning Rate"] == learning_rate:
                groups[(row["Architecture"], row["Source Dataset"], row["Target Dataset"])].append(float(row["Oracle"]))
                params[row["Architecture"]] = row["Params"]
    return [
        {"Architecture": a, "Source Dataset": s, "Target Dataset": t, "Oracle": float(np.mean(v)), "Params": params[a]}
        for (a, s, t), v in groups.items()
    ]


def parc_release() -> dict:
    sections = {}
    for name in ("parc_controlled", "parc_all"):
        oracle = {
            k: v for k, v in evaluation.read_oracle(name).items() if k[1] not in evaluation.RELEASE_EXCLUDED_SOURCES
        }
        rows = [
            {"Architecture": a, "Source Dataset": s, "Target Dataset": t, "Oracle": v}
            for (a, s, t), v in oracle.items()
        ]
        history = evaluation.read_history(rows, depth=evaluation.RELEASE_MODEL_LAYERS)
        methods = _methods(
            history,
            evaluation.RELEASE_TARGETS,
            metadata=(METADATA_DEPTH,),
            lomo=True,
            oracle=rows if name == "parc_controlled" else None,
        )
        sections[name] = {
            "models": len(history.models),
            "targets": list(evaluation.RELEASE_TARGETS),
            "flag": "" if name == "parc_controlled" else "self-supervised sources dropped (release)",
            "methods": methods,
        }
    return sections


def published() -> dict:
    sections = {}
    for name, (table, flag) in PUBLISHED.items():
        if table.startswith("text:"):
            _, setting, lr = table.split(":")
            history = evaluation.read_history(_text_rows(setting, lr))
        else:
            history = evaluation.read_history(table)
        metadata = (METADATA_PARAMS,) if METADATA_PARAMS in history.metadata else ()
        complete = bool(metadata) and np.isfinite(history.metadata[METADATA_PARAMS]).all()
        varies = complete and np.ptp(history.metadata[METADATA_PARAMS]) > 0
        lomo = varies and len(history.models) <= 40  # one refit per (model, target): too slow for 150+ models
        methods = _methods(history, history.targets, metadata=metadata if varies else (), lomo=lomo)
        if metadata and not complete:
            known = np.isfinite(history.metadata[METADATA_PARAMS])
            sub = History(
                tuple(m for m, k in zip(history.models, known) if k),
                history.targets,
                history.accuracy[known],
                metadata={METADATA_PARAMS: history.metadata[METADATA_PARAMS][known]},
            )
            methods[f"{METADATA_PARAMS} ({int(known.sum())} models with Params)"] = _summary(
                _constant(sub, sub.metadata[METADATA_PARAMS]), sub, sub.targets
            )
            methods[f"history prior ({int(known.sum())} models with Params)"] = _summary(
                evaluation.leave_one_target_out(sub), sub, sub.targets
            )
        sections[name] = {
            "models": len(history.models),
            "targets": list(history.targets),
            "flag": flag,
            "cells": int(np.isfinite(history.accuracy).sum()),
            "methods": methods,
        }
    sfda = collections.defaultdict(list)
    with open(TABLES / "sfda_published_wtau.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["Revision"] == "current":
                sfda[row["Method"]].append(float(row["Weighted Tau"]))
    sections["cnn_full"]["published_probe_wtau"] = {m: float(np.mean(v)) for m, v in sfda.items()}
    return sections


def offline(results_csv: pathlib.Path, oracle_csv: pathlib.Path) -> dict:
    oracle = evaluation.read_oracle(oracle_csv)
    with open(results_csv, newline="", encoding="utf-8") as handle:
        results = list(csv.DictReader(handle))
    runs = sorted({r["Run"] for r in results}, key=int)
    per_run = collections.defaultdict(list)
    for run in runs:
        rows = []
        for r in results:
            if r["Run"] != run:
                continue
            key = (r["Architecture"], r["Source Dataset"], r["Target Dataset"])
            rows.append(
                {
                    "Architecture": key[0],
                    "Source Dataset": key[1],
                    "Target Dataset": key[2],
                    "Oracle": oracle[key],
                    "Params": 10 ** float(r["baseline_log10_params"]),
                    "Depth": r["baseline_depth"],
                    **{e: r[e] for e in OFFLINE_ESTIMATORS},
                }
            )
        history = evaluation.read_history(rows, probes=OFFLINE_ESTIMATORS)
        meta = [METADATA_PARAMS, METADATA_DEPTH]
        targets = history.targets

        def add(name, scores, history=history, targets=targets):
            per_run[name].append(_summary(scores, history, targets))

        add("history prior", evaluation.leave_one_target_out(history))
        add("history prior + params + depth", evaluation.leave_one_target_out(history, metadata=meta))
        for e in OFFLINE_ESTIMATORS:
            add(f"history prior + {e}", evaluation.leave_one_target_out(history, probes=[e]))
        add("history prior + all 10 estimators", evaluation.leave_one_target_out(history, probes=OFFLINE_ESTIMATORS))
        for e in OFFLINE_ESTIMATORS:
            probe = {t: dict(zip(history.models, history.probes[e][:, j])) for j, t in enumerate(targets)}
            add(e, probe)
        add("static (mean of other targets)", _static(history))
        add(METADATA_PARAMS, _constant(history, history.metadata[METADATA_PARAMS]))
        add(METADATA_DEPTH, _constant(history, history.metadata[METADATA_DEPTH]))
        add("new model: params + depth (LOMO)", evaluation.leave_one_model_out(history, metadata=meta))
        add(
            "new model: params + depth + parc_f32 (LOMO)",
            evaluation.leave_one_model_out(history, metadata=meta, probes=["parc_f32"]),
        )
        add(
            "new model: params + depth + leep (LOMO)",
            evaluation.leave_one_model_out(history, metadata=meta, probes=["leep"]),
        )
    methods = {}
    for name, summaries in per_run.items():
        methods[name] = {
            "mean": {m: float(np.mean([s["mean"][m] for s in summaries])) for m in summaries[0]["mean"]},
            "std_over_runs": {m: float(np.std([s["mean"][m] for s in summaries])) for m in summaries[0]["mean"]},
            "per_target": {
                t: {
                    m: float(np.mean([s["per_target"][t][m] for s in summaries])) for m in summaries[0]["per_target"][t]
                }
                for t in summaries[0]["per_target"]
            },
        }
    return {
        "offline": {
            "models": len({(r["Architecture"], r["Source Dataset"]) for r in results}),
            "targets": sorted({r["Target Dataset"] for r in results}),
            "runs": len(runs),
            "cells": len(oracle),
            "flag": "3 targets: each fit sees 2; 5 probe runs",
            "methods": methods,
        }
    }


def _fmt(value, digits):
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def markdown(report: dict) -> str:
    env = report["environment"]
    lines = [
        "# History-aware ranking: past fine-tunes, with and without a probe",
        "",
        f"Measured {env['date']} on {env['cpu']} ({env['cores']} cores), `{report['command']}`, "
        f"{report['seconds']:.0f} s. Every prediction out of sample (see benchmarks/history.py).",
        "",
    ]
    for title, sections in (
        ("PARC release oracles (prior only)", report["parc_release"]),
        ("Published tables (prior only)", report["published"]),
        ("Offline bank with probes (prior + probe; mean over 5 runs, ± std)", report["offline"]),
    ):
        lines += [f"## {title}", ""]
        for name, section in sections.items():
            flag = f" — **{section['flag']}**" if section.get("flag") else ""
            lines += [
                f"### {name}: {section['models']} models x {len(section['targets'])} targets{flag}",
                "",
                "| method | weighted τ | gain | Kendall τ | Pearson ×100 | regret@1 |",
                "|---|---|---|---|---|---|",
            ]
            prior = section["methods"]["history prior"]["mean"]["weighted_tau"]
            for method, result in section["methods"].items():
                mean, std = result["mean"], result.get("std_over_runs")
                cells = []
                for metric, digits in zip(METRICS, (3, 3, 1, 2)):
                    text = _fmt(mean[metric], digits)
                    if std and math.isfinite(mean[metric]):
                        text += f" ± {std[metric]:.{digits}f}"
                    cells.append(text)
                gain = mean["weighted_tau"] - prior
                gain_text = f"{gain:+.3f}" if math.isfinite(gain) else "n/a"
                cells.insert(1, "—" if method == "history prior" else gain_text)
                lines.append(f"| {method} | " + " | ".join(cells) + " |")
            if "published_probe_wtau" in section:
                lines += [
                    "",
                    "Published weighted τ of probe estimators on this table (SFDA's README, not recomputed): "
                    + ", ".join(
                        f"{m} {v:.3f}"
                        for m, v in sorted(section["published_probe_wtau"].items(), key=lambda kv: -kv[1])
                    )
                    + ".",
                ]
            lines.append("")
    lines += [
        "Notes: *gain* = weighted τ minus the history prior's, same section. *new model (LOMO)*: the model's "
        "row and the target are both left out, so the prediction comes from metadata (and probe) alone; where "
        "the metadata ties models (one depth for most PARC models) a held-out model gets the mean of the "
        "others with its value, which is lower the better it is (the leave-one-out anticorrelation), so "
        "these rows are biased low. LOMO is not run on the TransferGraph tables (150-180 models: one refit "
        "per model and target) nor where the metadata is constant (cnn_ssl) or incomplete (vit, tg_image: "
        "rows on the models with Params instead). *static* is the prior of the history README (plain mean "
        "over the other targets); the history prior fits target levels too, which only matters on sparse "
        "tables (PARC: a model lacks its own source as a target; TransferGraph).",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", default=str(RESULTS / "offline" / "results.csv"))
    parser.add_argument("--oracle", default=str(RESULTS / "offline_oracle.csv"))
    parser.add_argument("--out", default=str(RESULTS / "history"))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    report = {
        "parc_release": parc_release(),
        "published": published(),
        "offline": offline(pathlib.Path(args.results), pathlib.Path(args.oracle)),
    }
    report.update(
        seconds=time.perf_counter() - start,
        environment=machine_stamp(),
        command="OPENBLAS_NUM_THREADS=1 python benchmarks/history.py " + " ".join(sys.argv[1:]),
    )
    atomic_write(f"{args.out}.json", json.dumps(report, indent=1, default=float) + "\n")
    atomic_write(f"{args.out}.md", markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
