"""PARC f=32 (exact PCA to 32 dims, then PARC) on a bank: parc_jax against the PARC release's way.

Side by side in one process, on the same random bank (benchmarks/estimators.py's `make_bank`):

* parc_jax: `estimators.score_bank("parc", bank, labels, C, n_dims=32)` on device-resident features
  (exact PCA from the top eigenpairs of each model's N x N or D x D Gram matrix, `_stats.top_eigh`);
* parc_jax, dense eigh: the same program with `top_eigh` forced to a full `eigh` (the route before);
* release: scikit-learn `PCA(32, svd_solver="randomized", iterated_power=1, random_state=1919)` per model,
  then the NumPy/SciPy PARC of `parc_jax.estimators.reference`.

The three alternate in blocks of timed calls (each block after untimed warm-up calls), and the medians
are compared. The machine is shared: report the ratios of one run.

    python benchmarks/pca.py [--calls 5] [--blocks 3]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import jax  # noqa: E402
from estimators import make_bank  # noqa: E402

from parc_jax import estimators  # noqa: E402
from parc_jax._io import machine_stamp
from parc_jax.estimators import _engine, _stats, reference  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
SHAPE = dict(M=8, N=500, D=2048, C=37)
N_DIMS = 32
GOAL = 8.0


def release_parc(bank, labels, c):
    from sklearn.decomposition import PCA  # noqa: PLC0415

    for x in bank:
        reduced = PCA(n_components=N_DIMS, svd_solver="randomized", iterated_power=1, random_state=1919).fit_transform(
            x
        )
        reference.parc(reduced, labels, c)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=5, help="timed calls per side and block")
    parser.add_argument("--blocks", type=int, default=3)
    args = parser.parse_args(argv)
    machine = machine_stamp()
    print(json.dumps(machine), flush=True)
    features, _, labels = make_bank(*SHAPE.values())
    device_bank = jax.device_put(features)
    c = SHAPE["C"]

    def ours():
        jax.block_until_ready(estimators.score_bank("parc", device_bank, labels, c, n_dims=N_DIMS))

    dense_bank = jax.device_put(features[:, :, : SHAPE["D"] - 1])  # another shape: a program of its own

    def ours_dense_eigh():
        limit = _stats.TOP_EIGH_DENSE_MAX
        _stats.TOP_EIGH_DENSE_MAX = 1 << 30  # read while tracing: this shape's program takes the dense eigh
        try:
            jax.block_until_ready(estimators.score_bank("parc", dense_bank, labels, c, n_dims=N_DIMS))
        finally:
            _stats.TOP_EIGH_DENSE_MAX = limit

    def release():
        release_parc(features, labels, c)

    sides = {"parc_jax": ours, "parc_jax_dense_eigh": ours_dense_eigh, "release": release}
    first = {}
    for name, side in sides.items():
        start = time.perf_counter()
        side()
        first[name] = time.perf_counter() - start
    times = {name: [] for name in sides}
    for _ in range(args.blocks):
        for name, side in sides.items():
            side()  # warm-up call after the other sides ran
            for _ in range(args.calls):
                start = time.perf_counter()
                side()
                times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    scores = {
        "parc_jax": [float(s) for s in estimators.score_bank("parc", device_bank, labels, c, n_dims=N_DIMS)],
    }
    speedup = medians["release"] / medians["parc_jax"]
    rows = {name: dict(median_s=medians[name], first_call_s=first[name], calls=len(times[name])) for name in sides}
    payload = dict(
        machine=machine,
        shape=SHAPE,
        n_dims=N_DIMS,
        rows=rows,
        speedup=speedup,
        speedup_dense_eigh=medians["release"] / medians["parc_jax_dense_eigh"],
        scores=scores,
    )
    _engine.compiled.cache_clear()
    lines = [
        "# PARC f=32 on a bank: parc_jax vs the PARC release's way",
        "",
        f"{machine['date']}; {machine['cpu']} ({machine['cores']} cores, 1-min load {machine['load_average_1min']}); "
        f"JAX {machine['jax']} on {machine['backend']}. Bank M={SHAPE['M']}, N={SHAPE['N']}, D={SHAPE['D']}, "
        f"C={SHAPE['C']}; median of {args.blocks} x {args.calls} calls per side, sides alternating in blocks. "
        "The machine is shared with other jobs: compare the ratios of this one run.",
        "",
        "| side | median (whole bank) | first call | speed-up vs release |",
        "|---|---:|---:|---:|",
    ]
    for name in sides:
        lines.append(
            f"| {name} | {medians[name] * 1e3:.1f} ms | {first[name]:.2f} s | "
            f"x{medians['release'] / medians[name]:.2f} |"
        )
    lines += ["", f"Goal x{GOAL:.0f}: {'met' if speedup >= GOAL else 'NOT met'} (x{speedup:.2f})."]
    report = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "pca_cpu.json").write_text(json.dumps(payload, indent=1))
    (RESULTS / "pca_cpu.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
