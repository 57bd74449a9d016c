"""Compilation time of every estimator: first call minus warm call for one bank shape.

Each estimator variant runs in a fresh Python process (nothing compiled before it, the persistent
compilation cache off): the first `score_bank` call on an [M, N, D] bank pays tracing, lowering and XLA
compilation, the warm calls (median of --warm-calls) only the work. Compilation = first - warm. JAX's
own monitoring events split the first call into tracing, lowering to StableHLO and the backend
(XLA) compile, summed over every program the call compiles.

    python benchmarks/compile_times.py                   # M=8, N=500, D=2048, C=37
    python benchmarks/compile_times.py --models 1000 --tag gpu

Writes benchmarks/results/compile_times_<tag>.{json,md}.
"""

from __future__ import annotations

import argparse
import collections
import json
import pathlib
import statistics
import subprocess
import sys
import time

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
# (label, estimator, options)
VARIANTS = [
    ("parc", "parc", {}),
    ("parc n_dims=32", "parc", {"n_dims": 32}),
    ("logme", "logme", {}),
    ("leep", "leep", {}),
    ("nce", "nce", {}),
    ("hscore", "hscore", {}),
    ("hscore shrinkage", "hscore", {"shrinkage": True}),
    ("knn k=1", "knn", {"k": 1}),
    ("knn k=5", "knn", {"k": 5}),
]
GOAL_S = 2.0
EVENTS = {
    "/jax/core/compile/jaxpr_trace_duration": "trace_s",
    "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower_s",
    "/jax/core/compile/backend_compile_duration": "xla_s",
}


def measure_one(name: str, opts: dict, m: int, n: int, d: int, c: int, warm_calls: int) -> dict:
    """First and warm call of one estimator variant in this (fresh) process."""
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    import jax

    jax.config.update("jax_enable_compilation_cache", False)
    durations = collections.Counter()
    programs = collections.Counter()  # XLA compile seconds per compiled function

    def listen(event, duration, fun_name="?", **_):
        if event in EVENTS:
            durations[EVENTS[event]] += duration
        if EVENTS.get(event) == "xla_s":
            programs[fun_name] += duration

    jax.monitoring.register_event_duration_secs_listener(listen)
    from estimators import make_device_bank  # noqa: PLC0415 (the benchmark's bank generator)

    from parc_jax import estimators

    features, probs, labels = make_device_bank(m, n, d, c)
    bank = probs if estimators.spec(name).input_kind == "probs" else features
    durations.clear()  # the bank generator's own program
    programs.clear()
    start = time.perf_counter()
    jax.block_until_ready(estimators.score_bank(name, bank, labels, c, **opts))
    first = time.perf_counter() - start
    phases = dict(durations, programs=dict(programs.most_common()))
    warm = []
    for _ in range(warm_calls):
        start = time.perf_counter()
        jax.block_until_ready(estimators.score_bank(name, bank, labels, c, **opts))
        warm.append(time.perf_counter() - start)
    return dict(first_s=first, warm_s=statistics.median(warm), compile_s=first - statistics.median(warm), **phases)


def markdown(machine: dict, shape: dict, rows: list[dict]) -> str:
    lines = [
        "# Estimator compilation time (first call - warm call)",
        "",
        f"{machine['date']}; {machine['cpu']} ({machine['cores']} cores, 1-min load {machine['load_average_1min']}); "
        f"JAX {machine['jax']} on {machine['backend']} ({machine['device']}).",
        "",
        f"Bank M={shape['M']}, N={shape['N']}, D={shape['D']}, C={shape['C']}; each variant in a fresh process, "
        f"no persistent compilation cache; warm = median of {shape['warm_calls']} calls. Trace / lower / XLA: "
        "JAX's monitoring events over every program of the first call. Goal: compile < "
        f"{GOAL_S:.0f} s. The machine is shared: numbers from one run.",
        "",
        "| estimator | first call | warm call | compile | trace | lower | XLA | goal |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        mark = "met" if r["compile_s"] < GOAL_S else "NOT met"
        lines.append(
            f"| {r['variant']} | {r['first_s']:.2f} s | {r['warm_s'] * 1e3:.1f} ms | {r['compile_s']:.2f} s | "
            f"{r.get('trace_s', 0):.2f} s | {r.get('lower_s', 0):.2f} s | {r.get('xla_s', 0):.2f} s | {mark} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=8)
    parser.add_argument("--n", type=int, default=500)
    parser.add_argument("--d", type=int, default=2048)
    parser.add_argument("--classes", type=int, default=37)
    parser.add_argument("--warm-calls", type=int, default=3)
    parser.add_argument("--only", default=None, help="comma-separated variant labels (default: all)")
    parser.add_argument("--tag", default=None, help="result file tag (default: backend name)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)  # one variant, in this process
    args = parser.parse_args(argv)
    shape = dict(M=args.models, N=args.n, D=args.d, C=args.classes, warm_calls=args.warm_calls)
    if args.child is not None:
        name, opts = json.loads(args.child)
        print(json.dumps(measure_one(name, opts, args.models, args.n, args.d, args.classes, args.warm_calls)))
        return
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    from parc_jax._io import machine_stamp

    machine = machine_stamp()
    print(json.dumps(machine), flush=True)
    wanted = None if args.only is None else set(args.only.split(","))
    rows = []
    for label, name, opts in VARIANTS:
        if wanted is not None and label not in wanted:
            continue
        command = [
            sys.executable,
            __file__,
            "--child",
            json.dumps([name, opts]),
            "--models",
            str(args.models),
            "--n",
            str(args.n),
            "--d",
            str(args.d),
            "--classes",
            str(args.classes),
            "--warm-calls",
            str(args.warm_calls),
        ]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        row = dict(variant=label, **json.loads(output.strip().splitlines()[-1]))
        rows.append(row)
        print(
            f"{label:>18}: first {row['first_s']:6.2f} s  warm {row['warm_s'] * 1e3:8.1f} ms  "
            f"compile {row['compile_s']:5.2f} s  (trace {row.get('trace_s', 0):.2f}, lower "
            f"{row.get('lower_s', 0):.2f}, xla {row.get('xla_s', 0):.2f})",
            flush=True,
        )
    tag = args.tag or machine["backend"]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"compile_times_{tag}.json").write_text(
        json.dumps(dict(machine=machine, shape=shape, rows=rows), indent=1)
    )
    report = markdown(machine, shape, rows)
    (RESULTS / f"compile_times_{tag}.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
