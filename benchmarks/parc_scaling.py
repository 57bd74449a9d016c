"""PARC scaling with the probe size N: blocked vs dense parc_jax vs the NumPy/SciPy dense reference.

Every point (method, n_dims, N) runs in a fresh subprocess, so peak memory is that point's alone:

* time: compile time and the run time of the compiled program (parc_jax; ahead-of-time
  `lower().compile()`, then one timed call ending in `block_until_ready`), or one call of
  `parc_jax.estimators.reference.parc` (float64, full sort);
* memory: peak resident set size of the process (`getrusage(RUSAGE_SELF).ru_maxrss`, includes the
  ~0.3 GB of the Python/JAX runtime and the [N, D] features), and on accelerators JAX's
  `peak_bytes_in_use`.

A method stops growing N after its first failure: over the time cap, over the memory budget (the
parent polls the child's RSS and kills it), or a crash (e.g. out of memory). Features are
class-structured Gaussian (D = 2048, C = 100 classes, N / C samples each).

    python benchmarks/parc_scaling.py            # CPU sweep, N = 500 .. 20,000
    python benchmarks/parc_scaling.py --quick    # N = 500 .. 2,000 (smoke test)
    python benchmarks/parc_scaling.py --gpu      # accelerator sweep, N up to 100,000

Writes benchmarks/results/parc_scaling_<preset>.{json,md,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import time

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
D, C = 2048, 100
PRESETS = {
    "cpu": dict(
        sizes=(500, 1000, 2000, 5000, 10000, 20000),
        time_cap=240,
        memory_gb=20.0,
        methods=("blocked", "dense", "reference"),
    ),
    "quick": dict(sizes=(500, 1000, 2000), time_cap=120, memory_gb=8.0, methods=("blocked", "dense", "reference")),
    "gpu": dict(
        sizes=(1000, 5000, 10000, 20000, 50000, 100000),
        time_cap=300,
        memory_gb=100.0,
        methods=("blocked", "dense", "reference"),
    ),
}
# The NumPy reference needs ~6 float64 N x N arrays; beyond this it is not even tried on the GPU box.
REFERENCE_MAX_N = 20000


def make_probe(n: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    labels = np.arange(n) % C
    rng.shuffle(labels)
    centers = rng.normal(size=(C, D)).astype(np.float32)
    features = centers[labels] + 3.0 * rng.normal(size=(n, D)).astype(np.float32)
    return features, labels.astype(np.int32)


def worker(method: str, n: int, n_dims: int | None) -> dict:
    """One point, in this process; returns its measurements."""
    features, labels = make_probe(n)
    if method == "reference":
        from parc_jax.estimators import reference

        start = time.perf_counter()
        value = reference.parc(features, labels, C, n_dims=n_dims)
        return dict(run_s=time.perf_counter() - start, compile_s=0.0, value=float(value))

    import jax
    import jax.numpy as jnp

    from parc_jax.estimators import _engine, _parc

    x = jax.device_put(jnp.asarray(features))
    label_args, static = _parc.SPEC.prepare(labels, C, n=n, d=D, n_dims=n_dims, method=method)
    fn = _engine.compiled(_parc.SPEC, tuple(sorted(static.items())), False, jax.default_backend())
    start = time.perf_counter()
    compiled = fn.lower(x, *label_args).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    value = jax.block_until_ready(compiled(x, *label_args))
    run_s = time.perf_counter() - start
    result = dict(run_s=run_s, compile_s=compile_s, value=float(value))
    stats = jax.devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        result["device_peak_gb"] = stats["peak_bytes_in_use"] / 1e9
    return result


def _rss_gb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1e6
    except OSError:
        pass
    return 0.0


def run_point(method: str, n: int, n_dims: int | None, *, time_cap: float, memory_gb: float, env: dict) -> dict:
    """Run one point in a subprocess under a time cap and an RSS budget."""
    command = [sys.executable, __file__, "--worker", method, str(n), str(n_dims)]
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    status, peak_polled = "ok", 0.0
    while child.poll() is None:
        peak_polled = max(peak_polled, _rss_gb(child.pid))
        elapsed = time.perf_counter() - start
        if peak_polled > memory_gb or elapsed > time_cap:
            status = f"over memory budget ({memory_gb:g} GB)" if peak_polled > memory_gb else f"over {time_cap:g} s"
            child.kill()
            break
        time.sleep(0.1)
    stdout, stderr = child.communicate()
    point = dict(
        method=method,
        n=n,
        n_dims=n_dims,
        status=status,
        wall_s=time.perf_counter() - start,
        load_average_1min=os.getloadavg()[0],
    )
    if status == "ok" and child.returncode != 0:
        tail = stderr.strip().splitlines()[-1:] or [f"exit code {child.returncode}"]
        point["status"] = "crashed (out of memory?)" if child.returncode < 0 else f"failed: {tail[0][:120]}"
    if point["status"] == "ok":
        point.update(json.loads(stdout.strip().splitlines()[-1]))
    else:
        point["peak_rss_gb"] = peak_polled
    return point


def to_markdown(report: dict) -> str:
    machine = report["machine"]
    lines = [
        f"# PARC scaling ({report['preset']})",
        "",
        f"{machine['date']} - {machine['cpu']} ({machine['cores']} cores), backend {machine['backend']} "
        f"({machine['device']} x{machine['num_devices']}), jax {machine['jax']}; load average (1 min) "
        f"{report['load_before']:.1f} before, {report['load_after']:.1f} after. D = {D}, C = {C}.",
        "",
        "Time = run of the compiled program (parc_jax) or one call (reference); compile time apart. "
        "Peak RSS = the whole process (runtime + features included).",
        "",
        "| n_dims | N | method | run (s) | compile (s) | peak RSS (GB) | PARC | load | status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for p in report["points"]:
        ok = p["status"] == "ok"
        lines.append(
            f"| {p['n_dims']} | {p['n']:,} | {p['method']} | {p['run_s']:.2f} | {p['compile_s']:.1f} | "
            f"{p['peak_rss_gb']:.2f} | {p['value']:.4f} | {p['load_average_1min']:.1f} | ok |"
            if ok
            else f"| {p['n_dims']} | {p['n']:,} | {p['method']} | - | - | >= {p['peak_rss_gb']:.2f} | - | "
            f"{p['load_average_1min']:.1f} | {p['status']} |"
        )
    return "\n".join(lines) + "\n"


def plot(report: dict, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (ax_time, ax_memory) = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"blocked": "o-", "dense": "s--", "reference": "^:"}
    for n_dims in sorted({p["n_dims"] for p in report["points"]}, key=str):
        for method in styles:
            points = [
                p for p in report["points"] if p["method"] == method and p["n_dims"] == n_dims and p["status"] == "ok"
            ]
            if not points:
                continue
            label = f"{method}, n_dims={n_dims}"
            sizes = [p["n"] for p in points]
            ax_time.loglog(sizes, [p["run_s"] for p in points], styles[method], label=label)
            ax_memory.loglog(sizes, [p["peak_rss_gb"] for p in points], styles[method], label=label)
    ax_time.set(xlabel="probe size N", ylabel="time (s)", title="PARC run time")
    ax_memory.set(xlabel="probe size N", ylabel="peak RSS (GB)", title="PARC peak memory (process)")
    for ax in (ax_time, ax_memory):
        ax.grid(True, which="both", alpha=0.3)
    ax_time.legend(fontsize=7)
    machine = report["machine"]
    figure.suptitle(f"{machine['device']} ({machine['cpu']}), {machine['date']}", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="N = 500 .. 2,000 only")
    group.add_argument("--gpu", action="store_true", help="accelerator preset, N up to 100,000")
    parser.add_argument("--worker", nargs=3, metavar=("METHOD", "N", "N_DIMS"), help=argparse.SUPPRESS)
    parser.add_argument("--sizes", type=int, nargs="+", help="override the preset's N values")
    parser.add_argument("--methods", nargs="+", choices=("blocked", "dense", "reference"))
    parser.add_argument("--time-cap", type=float, help="seconds per point")
    parser.add_argument("--memory-gb", type=float, help="RSS budget per point")
    args = parser.parse_args(argv)

    if args.worker:
        method, n, n_dims = args.worker
        result = worker(method, int(n), None if n_dims == "None" else int(n_dims))
        result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        print(json.dumps(result))
        return

    preset = "gpu" if args.gpu else "quick" if args.quick else "cpu"
    config = dict(PRESETS[preset])
    sizes = tuple(args.sizes or config["sizes"])
    methods = tuple(args.methods or config["methods"])
    time_cap = args.time_cap or config["time_cap"]
    memory_gb = args.memory_gb or config["memory_gb"]
    env = dict(os.environ)
    if preset != "gpu":
        env.setdefault("JAX_PLATFORMS", "cpu")

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    from parc_jax._io import machine_stamp

    load_before = os.getloadavg()[0]
    points = []
    for n_dims in (32, None):
        for method in methods:
            for n in sizes:
                if method == "reference" and n > REFERENCE_MAX_N:
                    break
                point = run_point(method, n, n_dims, time_cap=time_cap, memory_gb=memory_gb, env=env)
                points.append(point)
                shown = (
                    f"{point['run_s']:.2f} s, {point['peak_rss_gb']:.2f} GB"
                    if point["status"] == "ok"
                    else point["status"]
                )
                print(f"n_dims={n_dims} {method:9s} N={n:6d}: {shown}", flush=True)
                if point["status"] != "ok":
                    break
    report = dict(
        preset=preset,
        machine=machine_stamp(),
        load_before=load_before,
        load_after=os.getloadavg()[0],
        d=D,
        c=C,
        time_cap_s=time_cap,
        memory_budget_gb=memory_gb,
        points=points,
    )
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"parc_scaling_{preset}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    stem.with_suffix(".md").write_text(to_markdown(report))
    plot(report, stem.with_suffix(".png"))
    print(to_markdown(report))


if __name__ == "__main__":
    main()
