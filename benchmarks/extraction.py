"""Extraction throughput: images/s (and per device) over models, batch sizes, dtypes, strategies.

Two numbers per configuration, both after a warm-up call (compilation excluded), median of
``--repeats`` timed runs:

* ``e2e``: :class:`parc_jax.extract.Extractor` called on a host uint8 array, as a user calls
  it: host -> device transfer, normalisation on device, forward pass, device -> host copy of
  features and probabilities, padding of the last batch;
* ``device``: the compiled step alone on batches already on the devices
  (``block_until_ready`` at the end): the ceiling ``e2e`` can reach.

Inputs are random uint8 images at the model's input size (``--image-size`` overrides it), so
the on-device preprocessing is the normalisation ``(x - mean) / std`` only; weights are random
(speed does not depend on them).

Usage::

    python benchmarks/extraction.py --preset cpu     # minutes on a laptop CPU (what is committed)
    python benchmarks/extraction.py --preset gpu-goal  # one GPU: ResNet-50 bf16, goal >= 15,000 img/s
    python benchmarks/extraction.py --preset gpu       # one GPU: the full grid
    python benchmarks/extraction.py --models resnet50 --batch-sizes 256,512 --dtypes bfloat16 \\
        --strategies mesh --steps 20 --repeats 5

Writes ``benchmarks/results/extraction_<tag>.json`` and ``.md`` (tag: ``--tag`` or the device
kind, e.g. ``cpu``, ``nvidia-h100-80gb-hbm3``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pathlib
import re
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from parc_jax import models
from parc_jax._io import machine_stamp
from parc_jax.extract import Extractor

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
GOAL = {"model": "resnet50", "dtype": "bfloat16", "img_s": 15_000, "device": "H100"}

PRESETS = {
    # Small enough for a 2-core CPU (ResNet-50 at 224 px runs ~10-30 img/s there).
    "cpu": dict(
        models="cnn_small,resnet50,efficientnet_lite0",
        batch_sizes="8,16",
        dtypes="float32,bfloat16",
        strategies="mesh,pmap",
        steps=3,
        repeats=3,
    ),
    # One accelerator, the full grid (~5-10 min on an H100, mostly compilation).
    "gpu": dict(
        models="cnn_small,resnet50,efficientnet_lite0",
        batch_sizes="256,1024",
        dtypes="float32,bfloat16",
        strategies="mesh,pmap",
        steps=10,
        repeats=3,
    ),
    # The goal only: ResNet-50 bf16 (~1-2 min).
    "gpu-goal": dict(
        models="resnet50", batch_sizes="256,512,1024", dtypes="bfloat16", strategies="mesh,pmap", steps=20, repeats=5
    ),
}


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _machine() -> dict:
    """The shared machine stamp plus what extraction depends on: processes and XLA flags."""
    return {**machine_stamp(), "process_count": jax.process_count(), "xla_flags": os.environ.get("XLA_FLAGS", "")}


def _normalizer(spec):
    mean = jnp.asarray(spec.mean, jnp.float32)
    std = jnp.asarray(spec.std, jnp.float32)

    def normalize(x):
        return (x.astype(jnp.float32) - mean) / std

    return normalize


_POOL: dict[int, np.ndarray] = {}


def _random_images(n: int, size: int) -> np.ndarray:
    """``n`` random uint8 images ``[n, size, size, 3]``, a view of a pool kept across configs."""
    pool = _POOL.get(size)
    if pool is None or len(pool) < n:
        pool = np.random.default_rng(0).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
        _POOL[size] = pool
    return pool[:n]


def _median_time(fn, repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times


def bench_one(model, *, batch_size, dtype, strategy, steps, repeats, image_size, devices):
    """Times one configuration; returns a result row (dict)."""
    ext = Extractor(
        model.apply,
        model.variables,
        batch_size=batch_size,
        strategy=strategy,
        devices=devices,
        dtype=dtype,
        preprocess=_normalizer(model.info.preprocessing),
    )
    size = image_size or model.info.preprocessing.input_size
    n = ext.global_batch * steps
    images = _random_images(n, size)

    t = time.perf_counter()
    ext(images, progress=False)  # compile + warm-up
    compile_s = time.perf_counter() - t
    e2e_s, e2e_all = _median_time(lambda: ext(images, progress=False), repeats)

    device_batch = ext.put(images[: ext.global_batch])
    jax.block_until_ready(ext.step(device_batch))

    def device_only():
        out = None
        for _ in range(steps):
            out = ext.step(device_batch)
        jax.block_until_ready(out)

    dev_s, dev_all = _median_time(device_only, repeats)
    k = len(ext.devices)
    return {
        "model": model.info.name,
        "image_size": size,
        "strategy": strategy,
        "dtype": jnp.dtype(dtype).name,
        "devices": k,
        "global_batch": ext.global_batch,
        "per_device_batch": ext.per_device_batch,
        "images_per_run": n,
        "warmup_s": round(compile_s, 3),
        "e2e_img_s": n / e2e_s,
        "e2e_img_s_per_device": n / e2e_s / k,
        "device_img_s": n / dev_s,
        "device_img_s_per_device": n / dev_s / k,
        "e2e_times_s": [round(x, 4) for x in e2e_all],
        "device_times_s": [round(x, 4) for x in dev_all],
    }


def _markdown(machine: dict, rows: list[dict], args) -> str:
    lines = [
        f"# Extraction throughput ({machine['device']} x{machine['num_devices']})",
        "",
        f"- date: {machine['date']}",
        f"- machine: {machine['backend']} / {machine['device']} x{machine['num_devices']}, "
        f"host {machine['cpu']} ({machine['cores']} CPUs), "
        f"load average at start {machine['load_average_1min']}",
        f"- jax {machine['jax']}, python {machine['python']}",
        f"- command: `python benchmarks/extraction.py {' '.join(args)}`",
        "- random weights, random uint8 images at the model's input size; median of repeats "
        "after a warm-up call. `e2e`: `Extractor` on a host array (transfers included); "
        "`device`: compiled step on device-resident batches.",
        "",
        "| model | px | strategy | dtype | devices | global batch | e2e img/s | e2e img/s/dev "
        "| device img/s | device img/s/dev |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['image_size']} | {r['strategy']} | {r['dtype']} | {r['devices']} "
            f"| {r['global_batch']} | {r['e2e_img_s']:,.1f} | {r['e2e_img_s_per_device']:,.1f} "
            f"| {r['device_img_s']:,.1f} | {r['device_img_s_per_device']:,.1f} |"
        )
    best = [r for r in rows if r["model"] == GOAL["model"] and r["dtype"] == GOAL["dtype"]]
    if best:
        top = max(best, key=lambda r: r["e2e_img_s_per_device"])
        lines += [
            "",
            f"Goal: {GOAL['model']} {GOAL['dtype']} >= {GOAL['img_s']:,} img/s on one "
            f"{GOAL['device']}. Best here: {top['e2e_img_s_per_device']:,.1f} img/s per device "
            f"end to end ({top['device_img_s_per_device']:,.1f} device-only), batch "
            f"{top['global_batch']}, {top['strategy']} ({machine['device']}).",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", choices=sorted(PRESETS), help="defaults for the flags below")
    p.add_argument("--models", help="comma-separated zoo names")
    p.add_argument("--batch-sizes", help="global batch sizes, comma-separated")
    p.add_argument("--dtypes", help="float32,bfloat16")
    p.add_argument("--strategies", help="mesh,pmap")
    p.add_argument("--steps", type=int, help="batches per timed run")
    p.add_argument("--repeats", type=int, help="timed runs per configuration (median)")
    p.add_argument("--image-size", type=int, default=None, help="input side (default: model's)")
    p.add_argument("--devices", type=int, default=None, help="use the first K local devices")
    p.add_argument("--tag", help="results file tag (default: device kind)")
    p.add_argument("--out", type=pathlib.Path, default=RESULTS)
    args = p.parse_args(argv)
    preset = PRESETS[args.preset or ("cpu" if jax.devices()[0].platform == "cpu" else "gpu")]
    for key, value in preset.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    try:
        names = _csv(args.models)
        unknown = sorted(set(names) - set(models.names()))
        if unknown:
            raise ValueError(f"unknown models {unknown}; choose from {models.names()}")
        batch_sizes = [int(b) for b in _csv(args.batch_sizes)]
        if not batch_sizes or min(batch_sizes) < 1 or args.steps < 1 or args.repeats < 1:
            raise ValueError("batch sizes, --steps and --repeats must be positive")
        dtypes = _csv(args.dtypes)
        strategies = _csv(args.strategies)
    except ValueError as e:
        print(f"extraction benchmark: {e}", file=sys.stderr)
        return 2

    logging.basicConfig(level=logging.WARNING)
    machine = _machine()
    tag = args.tag or re.sub(r"[^a-z0-9]+", "-", machine["device"].lower()).strip("-")
    print(f"# {machine['device']} x{machine['num_devices']}, jax {machine['jax']}", flush=True)
    rows = []
    for name in names:
        t = time.perf_counter()
        model = models.load(name, pretrained=False, rng=jax.random.key(0))
        print(f"# loaded {name} in {time.perf_counter() - t:.1f}s", flush=True)
        for bs in batch_sizes:
            for dtype in dtypes:
                for strategy in strategies:
                    try:
                        row = bench_one(
                            model,
                            batch_size=bs,
                            dtype=dtype,
                            strategy=strategy,
                            steps=args.steps,
                            repeats=args.repeats,
                            image_size=args.image_size,
                            devices=args.devices,
                        )
                    except ValueError as e:
                        print(f"extraction benchmark: {e}", file=sys.stderr)
                        return 2
                    rows.append(row)
                    print(
                        f"{name:20s} bs={row['global_batch']:5d} {row['dtype']:8s} "
                        f"{strategy:4s}  e2e {row['e2e_img_s']:10.1f} img/s "
                        f"({row['e2e_img_s_per_device']:.1f}/dev)  device "
                        f"{row['device_img_s']:10.1f} img/s  warm-up {row['warmup_s']:.1f}s",
                        flush=True,
                    )
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {"machine": machine, "argv": argv, "goal": GOAL, "results": rows}
    (args.out / f"extraction_{tag}.json").write_text(json.dumps(payload, indent=2) + "\n")
    (args.out / f"extraction_{tag}.md").write_text(_markdown(machine, rows, argv))
    print(f"# wrote {args.out / f'extraction_{tag}.json'} and .md", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
