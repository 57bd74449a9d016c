"""Time to a ranking, as a user sees it: `python -m parc_jax.score` as a whole process vs a NumPy script.

Both sides are whole processes (interpreter start, imports, reading the files, scoring, writing):

* command: ``python -m parc_jax.score --probes <8 files> --estimators parc_f32,logme,leep,knn1``, first
  with an empty compilation cache (a fresh ``--compilation-cache`` directory: "first run"), then again
  with the same directory ("rerun").
* NumPy: one Python process in the PARC release's style that imports only NumPy, SciPy and
  scikit-learn: scikit-learn's randomized PCA to 32 dims (1 power iteration, as the release) then the
  float64 NumPy/SciPy estimators of ``parc_jax/estimators/reference.py`` (loaded by path, so that no
  parc_jax package and no JAX is imported), one model after another. It runs twice: as a user would run
  it (OpenBLAS's default threads) and with ``OPENBLAS_NUM_THREADS=1``, the command's own default; the
  goal is judged against the faster of the two.

The probe files are 8 synthetic models (N = 500, D = 256 ... 1,536, 10 classes, 1,000 source classes).
The sides alternate, `--repeats` times; medians are reported with each run's 1-minute load average
(the machine may be shared). `--demo` also times the built-in demo (``python -m parc_jax.score``: the
offline bank on Fashion-MNIST) with its probe sets cached, first run (empty compilation cache) and rerun.

    python benchmarks/score_e2e.py                 # writes benchmarks/results/score_e2e.{json,md}
    python benchmarks/score_e2e.py --demo --repeats 5
    python benchmarks/score_e2e.py --demo --before-root /tmp/parc_jax_before   # + an older checkout's command

`--before-root` times the command of another checkout (e.g. ``git archive <commit> | tar -x -C
/tmp/parc_jax_<commit>``) in the same repeats, so that before and after are measured under the same load.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ESTIMATORS = ("parc_f32", "logme", "leep", "knn1")
FEATURE_DIMS = (256, 384, 512, 640, 768, 1024, 1280, 1536)
N, NUM_CLASSES, NUM_SOURCE_CLASSES = 500, 10, 1000
GOAL_RERUN_SPEEDUP = 2.0
DEMO_BEFORE_S = 16.0  # the demo's rerun time before this benchmark existed (16-17 s)


def write_probe_files(directory: pathlib.Path, seed: int = 0) -> list[pathlib.Path]:
    """8 models' probe sets on one target: class-structured features, source probabilities, labels."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(N) % NUM_CLASSES).astype(np.int32)
    paths = []
    for m, d in enumerate(FEATURE_DIMS):
        means = rng.normal(size=(NUM_CLASSES, d)) * (0.2 + 0.1 * m)
        features = (means[labels] + rng.normal(size=(N, d))).astype(np.float32)
        logits = rng.normal(size=(N, NUM_SOURCE_CLASSES))
        logits[np.arange(N), labels * 7 + m] += 2 + 0.3 * m
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        path = directory / f"model{m}_d{d}.npz"
        np.savez(
            path,
            features=features,
            probs=probs.astype(np.float32),
            labels=labels,
            model=f"model{m}_d{d}",
            num_classes=NUM_CLASSES,
        )
        paths.append(path)
    return paths


def numpy_side(paths: list[str], out: str) -> None:
    """The NumPy process: scikit-learn PCA + the float64 reference estimators, model after model."""
    import importlib.util  # pylint: disable=import-outside-toplevel

    from sklearn.decomposition import PCA  # pylint: disable=import-outside-toplevel

    spec = importlib.util.spec_from_file_location("reference", ROOT / "parc_jax" / "estimators" / "reference.py")
    reference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reference)
    scores = {name: [] for name in ESTIMATORS}
    for path in paths:
        with np.load(path) as z:
            features, probs, labels, c = z["features"], z["probs"], z["labels"], int(z["num_classes"])
        pca = PCA(n_components=32, svd_solver="randomized", iterated_power=1, random_state=0)
        reduced = pca.fit_transform(features)
        scores["parc_f32"].append(reference.parc(reduced, labels, c))
        scores["logme"].append(reference.logme(features, labels, c))
        scores["leep"].append(reference.leep(probs, labels, c))
        scores["knn1"].append(reference.knn(features, labels, c, k=1))
    for name, values in scores.items():
        order = np.argsort(-np.asarray(values), kind="stable")
        print(f"{name}: best {pathlib.Path(paths[order[0]]).stem}")
    with open(out, "w", encoding="utf-8") as handle:
        json.dump({name: [float(v) for v in values] for name, values in scores.items()}, handle)
    if any(m.split(".")[0] in ("parc_jax", "jax") for m in sys.modules):
        raise RuntimeError("the NumPy side imported parc_jax or JAX")


def _timed(command: list[str], env: dict, cwd: pathlib.Path) -> dict:
    """Wall and CPU (user + sys) seconds of one child process, and the load average before it.

    `cwd` is outside every checkout: ``python -m`` puts the working directory first on the path.
    """
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command[:4])} ... failed ({done.returncode}):\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "load_before": round(load, 2)}


def _environment(root: pathlib.Path = ROOT) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _sides(before_root: pathlib.Path | None) -> dict[str, dict]:
    """{"": this checkout's environment, "before_": the older checkout's} (the latter with --before-root)."""
    return {"": _environment(), **({"before_": _environment(before_root)} if before_root else {})}


def _median(runs: list[dict], key: str) -> float:
    return round(statistics.median(r[key] for r in runs), 3)


def probe_files_benchmark(repeats: int, work: pathlib.Path, before_root: pathlib.Path | None = None) -> dict:
    paths = [str(p) for p in write_probe_files(work)]
    sides = _sides(before_root)
    env = sides[""]
    command = [sys.executable, "-m", "parc_jax.score", "--probes", *paths, "--estimators", ",".join(ESTIMATORS)]
    one_thread = {**env, "OPENBLAS_NUM_THREADS": "1"}
    kinds = [f"{side}{kind}" for side in sides for kind in ("command_first", "command_rerun")]
    runs = {kind: [] for kind in (*kinds, "numpy", "numpy_1thread")}
    for r in range(repeats):
        for kind in runs:
            if kind.startswith("numpy"):
                argv = [
                    sys.executable,
                    str(pathlib.Path(__file__).resolve()),
                    "--numpy-side",
                    str(work / "numpy.json"),
                    *paths,
                ]
                kind_env = one_thread if kind == "numpy_1thread" else env
            else:
                side = (
                    kind[: -len("command_first")] if kind.endswith("command_first") else kind[: -len("command_rerun")]
                )
                argv = [
                    *command,
                    "--compilation-cache",
                    str(work / f"{side}xla{r}"),
                    "--out",
                    str(work / f"{side}command.json"),
                ]
                kind_env = sides[side]
            runs[kind].append(_timed(argv, kind_env, work))
            print(f"repeat {r}: {kind:22s} {runs[kind][-1]}", flush=True)
    command_scores = {row["model"]: row for row in json.loads((work / "command.json").read_text())["models"]}
    numpy_scores = json.loads((work / "numpy.json").read_text())
    agreement = {}
    for name in ESTIMATORS:
        ours = np.array([command_scores[pathlib.Path(p).stem][name] for p in paths])
        theirs = np.array(numpy_scores[name])
        agreement[name] = {
            "max_abs_difference": float(np.max(np.abs(ours - theirs))),
            "same_ranking": bool(np.array_equal(np.argsort(-ours, kind="stable"), np.argsort(-theirs, kind="stable"))),
        }
    medians = {kind: {"wall_s": _median(v, "wall_s"), "cpu_s": _median(v, "cpu_s")} for kind, v in runs.items()}
    numpy_wall = min(medians["numpy"]["wall_s"], medians["numpy_1thread"]["wall_s"])
    numpy_cpu = min(medians["numpy"]["cpu_s"], medians["numpy_1thread"]["cpu_s"])
    return {
        "setup": {
            "models": len(paths),
            "n": N,
            "feature_dims": FEATURE_DIMS,
            "num_classes": NUM_CLASSES,
            "num_source_classes": NUM_SOURCE_CLASSES,
            "estimators": ESTIMATORS,
            "repeats": repeats,
        },
        "runs": runs,
        "medians": medians,
        "speedup_vs_numpy": {kind: round(numpy_wall / medians[kind]["wall_s"], 2) for kind in kinds},
        "cpu_speedup_vs_numpy": {kind: round(numpy_cpu / medians[kind]["cpu_s"], 2) for kind in kinds},
        "agreement_with_numpy": agreement,
    }


def demo_benchmark(repeats: int, work: pathlib.Path, before_root: pathlib.Path | None = None) -> dict:
    sides = _sides(before_root)
    command = [
        sys.executable,
        "-m",
        "parc_jax.score",
        "--cache-dir",
        str(work / "probes"),
        "--out",
        str(work / "demo.json"),
    ]
    fill = _timed([*command, "--compilation-cache", str(work / "xla_fill")], sides[""], work)
    print(f"demo probes filled: {fill}", flush=True)
    runs = {f"{side}{kind}": [] for side in sides for kind in ("first", "rerun")}
    for r in range(repeats):
        for kind in runs:
            side = kind[: -len("first")] if kind.endswith("first") else kind[: -len("rerun")]
            runs[kind].append(
                _timed([*command, "--compilation-cache", str(work / f"{side}xla_demo{r}")], sides[side], work)
            )
            print(f"repeat {r}: demo {kind:12s} {runs[kind][-1]}", flush=True)
    medians = {kind: {"wall_s": _median(v, "wall_s"), "cpu_s": _median(v, "cpu_s")} for kind, v in runs.items()}
    before = medians["before_rerun"]["wall_s"] if before_root else DEMO_BEFORE_S
    return {
        "probes_filled": fill,
        "runs": runs,
        "medians": medians,
        "before_s": before,
        "rerun_fraction_of_before": round(medians["rerun"]["wall_s"] / before, 3),
    }


def _markdown(result: dict) -> str:
    machine = result["machine"]
    lines = [
        "# Time to a ranking: `python -m parc_jax.score` vs a NumPy / scikit-learn process",
        "",
        f"{machine['date']}, {machine['cpu']} ({machine['cores']} cores), JAX {machine['jax']} on "
        f"{machine['backend']}; commit {result['commit']}. Whole processes, medians of {result['repeats']} "
        "alternating repeats; wall and CPU (user + sys) seconds; the 1-minute load average before each run "
        "is in the JSON (range below).",
        "",
    ]
    files = result.get("probe_files")
    if files:
        s = files["setup"]
        loads = [r["load_before"] for v in files["runs"].values() for r in v]
        lines += [
            f"## {s['models']} probe files (N = {s['n']}, D = {s['feature_dims'][0]} to {s['feature_dims'][-1]}, "
            f"{s['num_classes']} classes), estimators {', '.join(s['estimators'])}",
            "",
            f"load average during the runs: {min(loads):.1f} to {max(loads):.1f}",
            "",
            "| process | wall s | CPU s | speed-up vs the faster NumPy (wall) | (CPU) |",
            "|---|---|---|---|---|",
        ]
        m = files["medians"]
        names = {
            "numpy": "NumPy + scikit-learn",
            "numpy_1thread": "NumPy + scikit-learn, OPENBLAS_NUM_THREADS=1",
            "command_first": "command, first run (empty compilation cache)",
            "command_rerun": "command, rerun",
            "before_command_first": f"before ({result.get('before', '')}): first run",
            "before_command_rerun": f"before ({result.get('before', '')}): rerun",
        }
        for kind in [k for k in names if k in m]:
            speed = files["speedup_vs_numpy"].get(kind)
            cpu_speed = files["cpu_speedup_vs_numpy"].get(kind)
            lines.append(
                f"| {names[kind]} | {m[kind]['wall_s']:.2f} | {m[kind]['cpu_s']:.2f} | "
                f"{'' if speed is None else f'x{speed:.2f}'} | "
                f"{'' if cpu_speed is None else f'x{cpu_speed:.2f}'} |"
            )
        met = (
            files["speedup_vs_numpy"]["command_rerun"] >= GOAL_RERUN_SPEEDUP
            and files["speedup_vs_numpy"]["command_first"] >= 1.0
        )
        lines += [
            "",
            f"goal (rerun >= x{GOAL_RERUN_SPEEDUP:g}, first run >= x1 in wall time): {'met' if met else 'not met'}",
            "",
            "agreement with the NumPy side (PARC f=32 differs by design: the release's randomized PCA, one "
            "power iteration, against parc_jax's exact PCA): "
            + ", ".join(
                f"{k} max |diff| {v['max_abs_difference']:.3g}{'' if v['same_ranking'] else ' (ranking differs)'}"
                for k, v in files["agreement_with_numpy"].items()
            ),
            "",
        ]
    demo = result.get("demo")
    if demo:
        m = demo["medians"]
        lines += [
            "## The built-in demo (`python -m parc_jax.score`: offline bank on Fashion-MNIST), probe sets cached",
            "",
            "| run | wall s | CPU s |",
            "|---|---|---|",
            *[
                f"| {label} | {m[kind]['wall_s']:.2f} | {m[kind]['cpu_s']:.2f} |"
                for kind, label in (
                    ("first", "first (empty compilation cache)"),
                    ("rerun", "rerun"),
                    ("before_first", f"before ({result.get('before', '')}): first"),
                    ("before_rerun", f"before ({result.get('before', '')}): rerun"),
                )
                if kind in m
            ],
            "",
            f"rerun / before's rerun ({demo['before_s']:.2f} s): {demo['rerun_fraction_of_before']:.2f} (goal < 0.25)",
            "",
        ]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--demo", action="store_true", help="also time the built-in demo (needs Fashion-MNIST)")
    p.add_argument("--no-probe-files", action="store_true", help="skip the probe-file comparison")
    p.add_argument("--tag", default="", help="suffix of the result files")
    p.add_argument("--before-root", type=pathlib.Path, help="an older checkout whose command is timed alongside")
    p.add_argument("--numpy-side", nargs="+", metavar=("OUT", "FILES"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.numpy_side:
        numpy_side(args.numpy_side[1:], args.numpy_side[0])
        return 0
    sys.path.insert(0, str(ROOT))
    from parc_jax._io import machine_stamp  # pylint: disable=import-outside-toplevel

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    result = {"machine": machine_stamp(), "commit": commit, "repeats": args.repeats}
    if args.before_root:
        result["before"] = (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                cwd=args.before_root,
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            or args.before_root.name
        )
    with tempfile.TemporaryDirectory(prefix="score_e2e_") as tmp:
        work = pathlib.Path(tmp)
        if not args.no_probe_files:
            result["probe_files"] = probe_files_benchmark(args.repeats, work, args.before_root)
        if args.demo:
            result["demo"] = demo_benchmark(args.repeats, work, args.before_root)
    result["machine"]["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    stem = RESULTS / f"score_e2e{'_' + args.tag if args.tag else ''}"
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    stem.with_suffix(".md").write_text(_markdown(result))
    print(_markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
