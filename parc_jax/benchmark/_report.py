"""The benchmark's outputs: the results table, summary.json, the Markdown report and the plots.

* :func:`write_results_csv`: the results table in the PARC release's format (:data:`RESULTS_KEY`
  columns, then one column per method),
* :func:`write_outputs`: summary.json, report.md and the PNG plots of an evaluated results table,
* :func:`markdown_report`, :func:`methods_table`: the report's Markdown,
* :func:`write_plots`: score vs fine-tuned accuracy per target, Pearson per method, time per estimator,
* :func:`print_summary`: the methods table on stdout.

Files are written atomically (a temporary file, then a rename). The scoring and the evaluation
that produce these numbers are in :mod:`parc_jax.benchmark._runs`.
"""

from __future__ import annotations

import collections
import csv
import io
import json
import math
import os
import pathlib
import re
import sys
from collections.abc import Mapping, Sequence

import numpy as np

from parc_jax._io import atomic_open, atomic_write, machine_stamp
from parc_jax.evaluation import RESULTS_KEY


def write_results_csv(path: str | os.PathLike, rows: Sequence[dict], methods: Sequence[str]) -> None:
    """The results table in the PARC release's format; NaN scores are written as empty cells."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*RESULTS_KEY, *methods])
    for row in rows:
        cells = [row[k] for k in RESULTS_KEY]
        for m in methods:
            value = row[m]
            missing = value is None or (isinstance(value, float) and math.isnan(value))
            cells.append("" if missing else repr(float(value)))
        writer.writerow(cells)
    atomic_write(path, buffer.getvalue())


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return _json_safe(value.item())
    return value


def write_outputs(
    output_dir,
    evaluated: Mapping,
    *,
    rows: list[dict],
    estimator_names: Sequence[str],
    baseline_names: Sequence[str],
    accuracies: Mapping[tuple[str, str, str], float],
    timing: Mapping[str, dict],
    setup: dict,
    model_rows: list[dict],
    plots: bool = True,
    command: str = "",
    config: dict | None = None,
) -> dict:
    """Writes summary.json, report.md and the PNG plots of an evaluated results table; returns the summary.

    Args:
      output_dir: the folder holding the results.csv that was evaluated (:func:`write_results_csv`).
      evaluated: `parc_jax.protocol.evaluate` of that results.csv.
      rows: the results table's rows.
      estimator_names, baseline_names: its method columns.
      accuracies: the oracle accuracy of each (Architecture, Source Dataset, Target Dataset) of
        `rows`, for the plots.
      timing: {estimator name: `Timing.summary()`} of the timed scoring calls.
      setup, model_rows, command, config: what was run, recorded in the summary and the report.
      plots: write the PNG plots.
    """
    out = pathlib.Path(output_dir)
    methods = [*estimator_names, *baseline_names]
    summary = {
        "setup": setup,
        "environment": machine_stamp(),
        "command": command,
        "config": config or {},
        "estimators": list(estimator_names),
        "baselines": list(baseline_names),
        "timing": dict(timing),
        "models": model_rows,
        **evaluated,
    }
    summary = _json_safe(summary)
    atomic_write(out / "summary.json", json.dumps(summary, indent=1) + "\n")
    figures = []
    if plots:
        figures = write_plots(out, rows, methods, accuracies, summary)
    report = markdown_report(summary, figures)
    atomic_write(out / "report.md", report)
    summary["report"] = report
    return summary


def _fmt(value, digits: int = 1, std=None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    text = f"{value:.{digits}f}"
    if std is not None and math.isfinite(std):
        text += f" ± {std:.{digits}f}"
    return text


def methods_table(summary: dict) -> str:
    """The Markdown table of methods x metrics (mean ± std over runs) with time per estimator."""
    plastic = summary.get("pearson_plasticity")
    header = [
        "method",
        "Pearson ×100",
        "Pearson ×100 + plasticity",
        "Kendall τ",
        "weighted τ",
        "top-1 rel. acc. %",
        "regret@1",
        "ms / bank",
        "ms / model",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for method in [*summary["estimators"], *summary["baselines"]]:
        pearson = summary["pearson"][method]
        ranks = summary["summary"][method]
        timing = summary["timing"].get(method)
        cells = [
            method if method in summary["estimators"] else f"*{method}*",
            _fmt(pearson["mean"], 1, math.sqrt(pearson["variance"]) if pearson["variance"] is not None else None),
            _fmt(
                plastic[method]["mean"],
                1,
                math.sqrt(plastic[method]["variance"]) if plastic and plastic[method]["variance"] is not None else None,
            )
            if plastic
            else "n/a",
            _fmt(ranks["kendall_tau"]["mean"], 3, ranks["kendall_tau"]["std"]),
            _fmt(ranks["weighted_tau"]["mean"], 3, ranks["weighted_tau"]["std"]),
            _fmt(ranks["top1_relative_accuracy"]["mean"], 1, ranks["top1_relative_accuracy"]["std"]),
            _fmt(ranks["regret_at_1"]["mean"], 2, ranks["regret_at_1"]["std"]),
            _fmt(1e3 * timing["mean_s_per_bank"], 1) if timing else "—",
            _fmt(timing["mean_ms_per_model"], 2) if timing else "—",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _per_target_table(summary: dict) -> str:
    per_target = summary["per_target"]
    methods = [*summary["estimators"], *summary["baselines"]]
    targets = list(per_target[methods[0]])
    lines = ["| method | " + " | ".join(targets) + " |", "|---|" + "---|" * len(targets)]
    for m in methods:
        lines.append(f"| {m} | " + " | ".join(_fmt(per_target[m][t]["pearson"], 1) for t in targets) + " |")
    return "\n".join(lines)


def _models_table(summary: dict) -> str:
    rows = summary["models"]
    keys = [k for k in rows[0] if any(r.get(k) is not None for r in rows)]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for r in rows:
        lines.append(
            "| "
            + " | ".join("" if r.get(k) is None else f"{r[k]:,}" if isinstance(r[k], int) else str(r[k]) for k in keys)
            + " |"
        )
    return "\n".join(lines)


def markdown_report(summary: dict, figures: Sequence[str] = ()) -> str:
    """The Markdown report: setup, the methods table, per-target Pearson, the bank, the plots."""
    setup, env = summary["setup"], summary["environment"]
    if setup["mode"] == "bank":
        title = f"PARC protocol on the `{setup['bank']}` bank"
        what = (
            f"{setup['models']} models, targets {', '.join(setup['targets'])}; {setup['runs']} runs of a "
            f"{setup['budget']}-image probe ({setup['sampler']} sampler, {setup['split']} split); "
            f"a model is never scored on its own source dataset."
        )
        wall = (
            f"wall time {setup['wall_s']:.0f} s (probing/extraction {setup['probe_s']:.0f} s; "
            "cached probes load instantly)"
        )
    else:
        title = "PARC release probes"
        what = (
            f"{setup['models']} models from `{setup['probes']}`, targets {', '.join(setup['targets'])}, "
            f"{setup['runs']} runs; transfers with source = target left out."
        )
        wall = f"wall time {setup['wall_s']:.0f} s"
    parts = [
        f"# {title}",
        "",
        f"- {what}",
        f"- oracle (fine-tuned accuracy, %): `{setup['oracle']}`",
        f"- {env['date']}, jax {env['jax']} on {env['backend']} ({env['num_devices']} x {env['device']}; "
        f"{env['cpu']}, {env['cores']} CPUs"
        + (f", 1-min load average {env['load_average_1min']:.1f} at the end" if env.get("load_average_1min") else "")
        + f"); {wall}",
    ]
    if summary.get("command"):
        parts.append(f"- command: `{summary['command']}`")
    parts += [
        "",
        "## How well each method predicts fine-tuned accuracy",
        "",
        "Mean ± std over runs. *Pearson ×100*: the PARC paper's metric (per target, over the models with a "
        "positive oracle, averaged over targets; `evaluation.parc_protocol`); *+ plasticity*: each column "
        "z-scored over the table plus depth/50. Kendall τ (tau-b), weighted τ (Vigna, hyperbolic weights), "
        "top-1 relative accuracy (accuracy of the top-scored model / best accuracy) and regret@1 "
        "(best accuracy − that of the top-scored model, in points) are per (run, target), averaged over targets. "
        "Time: one `score_bank` call over the bank of a (run, target), after a warm-up call (no compilation). "
        "Baselines in *italics*: log10 parameter count, depth, and the model's mean fine-tuned accuracy on the "
        "other targets.",
        "",
        methods_table(summary),
        "",
        "## Pearson ×100 per target (mean over runs)",
        "",
        _per_target_table(summary),
        "",
        "## Models",
        "",
        _models_table(summary),
        "",
    ]
    if figures:
        parts += ["## Plots", ""] + [f"![{pathlib.Path(f).stem}]({f})" for f in figures] + [""]
    return "\n".join(parts)


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)


def _save_figure(figure, path: pathlib.Path) -> None:
    with atomic_open(path) as handle:
        figure.savefig(handle, format="png", dpi=110)


def write_plots(
    out: pathlib.Path,
    rows: Sequence[dict],
    methods: Sequence[str],
    accuracies: Mapping[tuple[str, str, str], float],
    summary: dict,
) -> list[str]:
    """PNG plots: per target, each method's score against fine-tuned accuracy (a grid, one
    panel per method, one point per model: mean ± std of the score over runs); the protocol's
    Pearson per method; time per estimator. Returns the file names written.

    `accuracies` maps each (Architecture, Source Dataset, Target Dataset) of `rows` to its
    oracle accuracy (NaN or <= 0: not plotted)."""
    from matplotlib import colormaps  # pylint: disable=import-outside-toplevel
    from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel

    written = []
    targets = list(dict.fromkeys(r["Target Dataset"] for r in rows))
    models = list(dict.fromkeys((r["Architecture"], r["Source Dataset"]) for r in rows))
    palette = colormaps["tab10" if len(models) <= 10 else "tab20"]
    markers = "osD^v<>Ph*X"
    style = {m: (palette(i % palette.N), markers[i % len(markers)]) for i, m in enumerate(models)}
    for target in targets:
        by_model: dict[tuple[str, str], list[dict]] = collections.defaultdict(list)
        for r in rows:
            if r["Target Dataset"] == target:
                by_model[(r["Architecture"], r["Source Dataset"])].append(r)
        ncols = min(4, len(methods))
        nrows = math.ceil(len(methods) / ncols)
        figure = Figure(figsize=(3.3 * ncols + 2.2, 2.7 * nrows + 0.8), layout="constrained")
        axes = figure.subplots(nrows, ncols, squeeze=False)
        handles = {}
        for ax, method in zip(axes.flat, methods):
            for model, model_rows in by_model.items():
                accuracy = accuracies.get((model[0], model[1], target), math.nan)
                if not accuracy > 0:
                    continue
                values = np.array([np.nan if r[method] is None else float(r[method]) for r in model_rows])
                if not np.isfinite(values).any():
                    continue
                color, marker = style[model]
                handle = ax.errorbar(
                    np.nanmean(values),
                    accuracy,
                    xerr=np.nanstd(values),
                    fmt=marker,
                    color=color,
                    markersize=5,
                    capsize=2,
                )
                handles[model] = handle
            pearson = summary["per_target"][method].get(target, {}).get("pearson")
            ax.set_title(f"{method}\nPearson×100 {_fmt(pearson, 1)}", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.locator_params(axis="x", nbins=4)
            ax.ticklabel_format(axis="x", useOffset=False)
        for ax in list(axes.flat)[len(methods) :]:
            ax.set_visible(False)
        figure.supxlabel("score (mean ± std over runs)", fontsize=9)
        figure.supylabel("fine-tuned accuracy (%)", fontsize=9)
        figure.suptitle(f"target {target}: score vs fine-tuned accuracy", fontsize=11)
        labels = [m[0] if m[0].endswith(m[1]) or m[1] in m[0] else f"{m[0]} ({m[1]})" for m in handles]
        figure.legend(
            list(handles.values()),
            labels,
            loc="outside right upper",
            fontsize=7,
            frameon=False,
            ncol=1 if len(handles) <= 24 else 2,
        )
        name = f"scores_vs_accuracy_{_safe_name(target)}.png"
        _save_figure(figure, out / name)
        written.append(name)

    plastic = summary.get("pearson_plasticity")
    figure = Figure(figsize=(max(6.0, 0.55 * len(methods) + 2), 3.6), layout="constrained")
    ax = figure.subplots()
    x = np.arange(len(methods))
    width = 0.4 if plastic else 0.7
    series = [("without plasticity", summary["pearson"])] + ([("with plasticity", plastic)] if plastic else [])
    for i, (label, table) in enumerate(series):
        means = [table[m]["mean"] if table[m]["mean"] is not None else np.nan for m in methods]
        stds = [math.sqrt(table[m]["variance"]) if table[m]["variance"] is not None else 0.0 for m in methods]
        ax.bar(x + (i - (len(series) - 1) / 2) * width, means, width, yerr=stds, capsize=2, label=label)
    ax.axhline(0, color="black", linewidth=0.6)
    ax.set_xticks(x, methods, rotation=40, ha="right", fontsize=8)
    ax.set_ylabel("Pearson ×100 (mean over runs)")
    ax.set_title("PARC protocol: correlation with fine-tuned accuracy", fontsize=10)
    ax.legend(fontsize=8)
    _save_figure(figure, out / "pearson.png")
    written.append("pearson.png")

    timed = [m for m in methods if m in summary["timing"]]
    if timed:
        figure = Figure(figsize=(6.0, 0.35 * len(timed) + 1.2), layout="constrained")
        ax = figure.subplots()
        values = [summary["timing"][m]["mean_ms_per_model"] or np.nan for m in timed]
        ax.barh(np.arange(len(timed)), values, color="tab:blue")
        ax.set_yticks(np.arange(len(timed)), timed, fontsize=8)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlabel("ms per model (one score_bank call over the bank / models, after warm-up)")
        env = summary["environment"]
        ax.set_title(f"time per estimator ({env['backend']}, {env['num_devices']} x {env['device']})", fontsize=10)
        for i, v in enumerate(values):
            ax.text(v, i, f" {v:.2f}", va="center", fontsize=7)
        _save_figure(figure, out / "time_per_estimator.png")
        written.append("time_per_estimator.png")
    return written


def print_summary(summary: dict, stream=None) -> None:
    """The methods table on stdout (what the CLI prints at the end)."""
    stream = stream or sys.stdout
    stream.write(methods_table(summary) + "\n")
