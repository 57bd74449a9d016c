"""Estimator speed: parc_jax (jitted, batched over the bank) vs a float64 NumPy/SciPy loop over models.

For every configuration (M models, N probe images, D feature dims, C classes) both sides score the
same random bank, side by side in one process:

* parc_jax: `estimators.score_bank` (input checks included) on inputs already on the device, each
  call ending in `block_until_ready`; the median of the timed calls.
* NumPy: `parc_jax.estimators.reference`, one model after another as the original releases do. Its
  time is linear in M, so the median time of one model (cycling over min(M, --numpy-models)
  models) is scaled to M ("numpy models timed" in the output).

The two sides alternate in three blocks of timed calls, each block after 0.2 s of untimed calls of the
same side (compilation, lazy imports, the other side's threads winding down, this side's reaching steady
state).

The field's later estimators (SFDA, ETran, NCTI, PED, GBC, TransRate, LEAD, PACTran, RankMe, the linear
probes) are timed the same way against the releases' algorithms in `reference` (goal x10 each);
`--estimators field` selects them all, `all` every estimator with a goal.

Both sides run with OpenBLAS on one thread (`OPENBLAS_NUM_THREADS=1` unless the variable is set).

Prints a table of times and speed-ups, and writes JSON + Markdown under benchmarks/results/.

    python benchmarks/estimators.py               # the goal configuration + the sweep
    python benchmarks/estimators.py --quick       # the goal configuration only
    python benchmarks/estimators.py --quick --estimators field --tag cpu_breadth   # the field's estimators
    python benchmarks/estimators.py --quick --estimators gbc,ncti                  # a subset
    python benchmarks/estimators.py --quick --bank-models 1000 --tag gpu   # + every estimator on 1,000 models

`--bank-models M` adds the accelerator goal: every estimator on one bank of M models of the
goal configuration's shape, generated on the device (a host-side bank of 1,000 models is 6 GB). Only
parc_jax runs there; the NumPy column is the goal run's NumPy time per model times M. `--bank-steps`
compares step sizes (models vectorised together; "auto" is the engine's choice).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pathlib
import statistics
import sys
import time

# OpenBLAS on one thread on both sides, as `python -m parc_jax.score` runs (set the variable to override),
# before NumPy loads it: XLA calls LAPACK (jaxlib's comes from SciPy's OpenBLAS) from its own thread pool,
# and OpenBLAS threads inside those calls oversubscribe a small CPU (on the busy 2-core VM, GBC's bank call
# took 0.1 s or, in spells, 1-4 s; TransRate's 0.06 s or 3 s). Limiting only SciPy's library through
# threadpoolctl hung an XLA LAPACK call once NumPy's had run in between.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from parc_jax import estimators  # noqa: E402
from parc_jax._io import machine_stamp  # noqa: E402
from parc_jax.estimators import _engine, reference  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
GOAL = dict(M=8, N=500, D=2048, C=37)
GOAL_SPEEDUP = {"parc": 4, "logme": 5, "hscore": 30, "leep": 2, "nce": 2, "knn": 2}
# The field's later estimators against their releases' algorithms (--estimators field): goal x10.
FIELD = (
    "sfda",
    "etran_energy",
    "etran_lda",
    "etran",
    "ped",
    "ncti",
    "nleep",
    "gbc",
    "transrate",
    "lead",
    "pactran_dirichlet",
    "pactran_gamma",
    "pactran_gaussian",
    "rankme",
    "linear_valerr",
    "linear_probe",
)
BREADTH_GOAL_SPEEDUP = dict.fromkeys(FIELD, 10)
GOALS = {**GOAL_SPEEDUP, **BREADTH_GOAL_SPEEDUP}
SELECTIONS = {"field": FIELD, "all": tuple(GOALS)}  # --estimators shorthands
SWEEP = dict(M=(1, 8, 32), N=(500, 2000), D=(512, 2048), C=(10, 200))
NUM_SOURCE_CLASSES = 1000
WARMUP_S = 1.0  # untimed calls per side before the first block
BLOCK_WARMUP_S = 0.2  # untimed calls of a side before each of its blocks


def make_bank(m, n, d, c, seed=0):
    """Class-structured random features and softmax probabilities for M models."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % c
    rng.shuffle(labels)
    centers = rng.normal(size=(m, c, d)).astype(np.float32)
    features = centers[:, labels] + rng.normal(size=(m, n, d)).astype(np.float32) * 2.0
    logits = rng.normal(size=(m, n, NUM_SOURCE_CLASSES)).astype(np.float32)
    logits[:, np.arange(n), labels * 7 % NUM_SOURCE_CLASSES] += 3.0
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    return features, probs.astype(np.float32), labels.astype(np.int32)


def make_device_bank(m, n, d, c, seed=0):
    """`make_bank`'s distributions, drawn on the device: (features, probs) as device arrays, labels."""
    labels = np.arange(n) % c
    np.random.default_rng(seed).shuffle(labels)

    @jax.jit
    def draw(key, labels):
        keys = jax.random.split(key, 3)
        centers = jax.random.normal(keys[0], (m, c, d))
        features = centers[:, labels] + 2.0 * jax.random.normal(keys[1], (m, n, d))
        logits = jax.random.normal(keys[2], (m, n, NUM_SOURCE_CLASSES))
        logits = logits.at[:, jnp.arange(n), labels * 7 % NUM_SOURCE_CLASSES].add(3.0)
        return features, jax.nn.softmax(logits, axis=-1)

    features, probs = jax.block_until_ready(draw(jax.random.key(seed), jnp.asarray(labels)))
    return features, probs, labels.astype(np.int32)


def time_bank_estimator(name, features, probs, labels, step, auto_step, numpy_per_model, budget_s, max_calls):
    """One estimator on the large bank. Calls are repeated while the next one is expected to fit the
    budget; a call too slow for any repeat is reported from its first call (compilation included)."""
    bank = probs if estimators.spec(name).input_kind == "probs" else features
    m = bank.shape[0]
    start = time.perf_counter()
    scores = jax.block_until_ready(estimators.score_bank(name, bank, labels, GOAL["C"]))
    first = time.perf_counter() - start
    times = []
    while len(times) < max_calls and sum(times) + (times[-1] if times else first) < budget_s:
        start = time.perf_counter()
        jax.block_until_ready(estimators.score_bank(name, bank, labels, GOAL["C"]))
        times.append(time.perf_counter() - start)
    ours = statistics.median(times) if times else first
    spec = estimators.spec(name)
    if step == "auto":
        used = auto_step(GOAL["N"], bank.shape[2], spec.input_kind, streaming=spec.streaming)
    else:
        used = int(step)
    theirs = numpy_per_model.get(name, float("nan")) * m
    print(
        f"bank M={m} step={step}({used}) {name:>7}: first {first:7.2f} s  median {ours * 1e3:9.1f} ms "
        f"({len(times)} calls)  numpy-loop estimate {theirs:8.1f} s  x{theirs / ours:.0f}",
        flush=True,
    )
    return dict(
        estimator=name,
        M=m,
        **{k: GOAL[k] for k in "NDC"},
        step=str(step),
        models_per_step=used,
        first_call_s=first,
        jax_s=ours,
        timed_calls=len(times),
        numpy_estimate_s=theirs,
        speedup=theirs / ours,
        finite_scores=bool(np.isfinite(np.asarray(scores)).all()),
    )


def time_large_bank(m, names, steps, numpy_per_model, budget_s=20.0, max_calls=5):
    """Every estimator on one device-generated bank of M models: first call and median call time."""
    features, probs, labels = make_device_bank(m, GOAL["N"], GOAL["D"], GOAL["C"])
    auto_step = _engine.models_per_step
    rows = []
    for step in steps:
        _engine.models_per_step = auto_step if step == "auto" else (lambda *_, s=int(step), **__: s)
        _engine.compiled.cache_clear()
        try:
            for name in names:
                try:
                    rows.append(
                        time_bank_estimator(
                            name, features, probs, labels, step, auto_step, numpy_per_model, budget_s, max_calls
                        )
                    )
                except Exception as error:  # one failing estimator must not lose the others' numbers
                    print(f"bank M={m} step={step} {name}: FAILED {type(error).__name__}: {error}", flush=True)
        finally:
            _engine.models_per_step = auto_step
    return rows


def time_side_by_side(name, bank, labels, c, *, blocks, calls, numpy_models):
    """Median bank time of parc_jax, and median time of one NumPy model scaled to M.

    Both sides first run untimed for WARMUP_S: the first NumPy call of a process pays lazy imports
    (0.6 s for SciPy in PARC), and a JAX bank call at M=8, N=500 ran ~1.6x slower over its first few
    dozen calls. Then the sides alternate in `blocks` blocks of `calls` timed calls, so a slow spell of
    this shared machine hits both. Each block starts with BLOCK_WARMUP_S of untimed calls of its side:
    after the other side ran, the first calls are slow. On the 2-core VM, LEEP at the goal size took
    5.6 ms (median of 10 calls) straight after the NumPy side, 3.8 ms after 0.1 s and 3.2 ms after 0.2 s
    of warm-up calls (NumPy: 10.0, 9.0, 9.3 ms), and 4.2-6.7 ms after a 0.2 s idle pause, the
    method before.
    """
    device_bank = jax.device_put(jnp.asarray(bank))
    fn = reference.FUNCTIONS[name]
    timed = min(len(bank), numpy_models)

    def ours(_call):
        jax.block_until_ready(estimators.score_bank(name, device_bank, labels, c))

    def numpy_side(call):
        fn(bank[call % timed], labels, c)

    def warm_up(side, seconds):
        start, call = time.perf_counter(), 0
        while call < 1 or time.perf_counter() - start < seconds:
            side(call)
            call += 1

    for side in (ours, numpy_side):  # steady state before timing
        warm_up(side, WARMUP_S)
    jax_times, numpy_times = [], []
    for block in range(blocks):
        for side, times in ((ours, jax_times), (numpy_side, numpy_times)):
            warm_up(side, BLOCK_WARMUP_S)
            for call in range(calls):
                start = time.perf_counter()
                side(block * calls + call)
                times.append(time.perf_counter() - start)
    return statistics.median(jax_times), statistics.median(numpy_times) * len(bank), timed


def run_config(m, n, d, c, *, blocks, calls, numpy_models, names):
    features, probs, labels = make_bank(m, n, d, c)
    rows = []
    for name in names:
        bank = probs if estimators.spec(name).input_kind == "probs" else features
        ours, theirs, timed = time_side_by_side(
            name, bank, labels, c, blocks=blocks, calls=calls, numpy_models=numpy_models
        )
        rows.append(
            dict(
                estimator=name,
                M=m,
                N=n,
                D=d,
                C=c,
                jax_s=ours,
                numpy_s=theirs,
                speedup=theirs / ours,
                numpy_models_timed=timed,
                timed_calls=blocks * calls,
            )
        )
        print(
            f"M={m:>3} N={n:>5} D={d:>5} C={c:>4} {name:>7}: jax {ours * 1e3:9.1f} ms  "
            f"numpy {theirs * 1e3:10.1f} ms  x{theirs / ours:7.1f}",
            flush=True,
        )
    return rows


def bank_markdown(bank_rows) -> list[str]:
    m = bank_rows[0]["M"]
    lines = [
        "",
        f"Every estimator on one bank of M={m} models (N={GOAL['N']}, D={GOAL['D']}, C={GOAL['C']}; "
        "median call; NumPy loop estimated as the goal run's time per model x M):",
        "",
        "| step | estimator | models per step | first call (compile) | parc_jax | NumPy loop (est.) | speed-up |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in bank_rows:
        lines.append(
            f"| {r['step']} | {r['estimator']} | {r['models_per_step']} | {r['first_call_s']:.1f} s | "
            f"{r['jax_s'] * 1e3:.1f} ms | {r['numpy_estimate_s']:.2f} s | x{r['speedup']:.0f} |"
        )
    for step in dict.fromkeys(r["step"] for r in bank_rows):
        total = sum(r["jax_s"] for r in bank_rows if r["step"] == step)
        lines.append(f"| {step} | **all estimators** | | | **{total * 1e3:.0f} ms** | | |")
    return lines


def markdown(machine, goal_rows, sweep_rows, bank_rows=()) -> str:
    lines = [
        "# Estimator speed: parc_jax vs a float64 NumPy loop over models",
        "",
        f"{machine['date']}; {machine['cpu']} ({machine['cores']} cores, 1-min load {machine['load_average_1min']}); "
        f"JAX {machine['jax']} on {machine['backend']} ({machine['device']}).",
        "",
        f"OPENBLAS_NUM_THREADS={machine.get('openblas_num_threads', 'unset')} (both sides).",
        "",
        f"Goal configuration M={GOAL['M']}, N={GOAL['N']}, D={GOAL['D']}, C={GOAL['C']} (whole bank, median"
        + (
            f"; NumPy timed on {goal_rows[0]['numpy_models_timed']} of {GOAL['M']} models and scaled"
            if goal_rows and goal_rows[0]["numpy_models_timed"] < GOAL["M"]
            else ""
        )
        + "):",
        "",
        "| estimator | parc_jax | NumPy loop | speed-up | goal |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in goal_rows:
        goal = GOALS[r["estimator"]]
        mark = "met" if r["speedup"] >= goal else "NOT met"
        lines.append(
            f"| {r['estimator']} | {r['jax_s'] * 1e3:.1f} ms | {r['numpy_s'] * 1e3:.1f} ms | "
            f"x{r['speedup']:.2f} | x{goal} ({mark}) |"
        )
    if sweep_rows:
        timed = max(r["numpy_models_timed"] for r in sweep_rows)
        lines += [
            "",
            "Sweep (speed-up = NumPy loop time / parc_jax time; NumPy timed on "
            f"min(M, {timed}) models and scaled to M):",
            "",
        ]
        names = sorted({r["estimator"] for r in sweep_rows}, key=list(GOALS).index)
        lines.append("| M | N | D | C | " + " | ".join(names) + " |")
        lines.append("|---" * 4 + "|---:" * len(names) + "|")
        keyed = {(r["M"], r["N"], r["D"], r["C"], r["estimator"]): r for r in sweep_rows}
        for key in sorted({k[:4] for k in keyed}):
            cells = [f"x{keyed[key + (nm,)]['speedup']:.1f}" for nm in names]
            lines.append("| " + " | ".join(map(str, key)) + " | " + " | ".join(cells) + " |")
    if bank_rows:
        lines += bank_markdown(bank_rows)
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="the goal configuration only")
    parser.add_argument(
        "--calls", type=int, default=10, help="timed calls per side and block of the goal configuration (3 blocks)"
    )
    parser.add_argument("--sweep-calls", type=int, default=2, help="timed calls per side and block in the sweep")
    parser.add_argument("--numpy-models", type=int, default=2, help="NumPy models timed per sweep config")
    parser.add_argument(
        "--goal-numpy-models",
        type=int,
        default=GOAL["M"],
        help="NumPy models timed in the goal configuration (default: all)",
    )
    parser.add_argument(
        "--estimators", default=",".join(GOAL_SPEEDUP), help="comma-separated names, or 'field' or 'all'"
    )
    parser.add_argument("--tag", default=None, help="result file tag (default: backend name)")
    parser.add_argument(
        "--bank-models", type=int, default=0, help="also time every estimator on one bank of this many models"
    )
    parser.add_argument(
        "--bank-steps", default="auto", help="comma-separated models per step for --bank-models ('auto': the engine's)"
    )
    args = parser.parse_args(argv)
    names = list(SELECTIONS.get(args.estimators, args.estimators.split(",")))
    unknown = sorted(set(names) - set(GOALS))
    if unknown:
        parser.error(f"no goal for {unknown}; choose among {list(GOALS)} or {list(SELECTIONS)}")
    machine = machine_stamp()
    machine["openblas_num_threads"] = os.environ["OPENBLAS_NUM_THREADS"]
    print(json.dumps(machine))
    goal_rows = run_config(*GOAL.values(), blocks=3, calls=args.calls, numpy_models=args.goal_numpy_models, names=names)
    sweep_rows = []
    if not args.quick:
        for m, n, d, c in itertools.product(*SWEEP.values()):
            sweep_rows += run_config(
                m, n, d, c, blocks=3, calls=args.sweep_calls, numpy_models=args.numpy_models, names=names
            )
    bank_rows = []
    if args.bank_models:
        numpy_per_model = {r["estimator"]: r["numpy_s"] / r["M"] for r in goal_rows}
        bank_rows = time_large_bank(args.bank_models, names, args.bank_steps.split(","), numpy_per_model)
    tag = args.tag or machine["backend"]
    RESULTS.mkdir(exist_ok=True)
    payload = dict(machine=machine, goal=goal_rows, sweep=sweep_rows, bank=bank_rows)
    report = markdown(machine, goal_rows, sweep_rows, bank_rows)
    (RESULTS / f"estimators_{tag}.json").write_text(json.dumps(payload, indent=1))
    (RESULTS / f"estimators_{tag}.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
