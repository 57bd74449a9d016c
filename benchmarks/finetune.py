"""Fine-tuning speed: training images/s and step time of the compiled, data-parallel train step.

Times :class:`parc_jax.finetune.Trainer` (forward, backward, SGD update, BatchNorm statistics)
on real images (scikit-learn digits, preprocessed to the model input once, as the augmentation
hands them over) for ResNet-50 and EfficientNet-Lite0 with a new 10-way head. Compilation is
timed separately; then ``--steps`` steps are timed after ``--warmup`` steps, with
``block_until_ready``.

    python benchmarks/finetune.py                                   # CPU: 64 px, float32
    python benchmarks/finetune.py --image-size 224 --batch-size 128 --dtype bfloat16  # GPU/TPU

Results go to ``benchmarks/results/finetune_<platform>_<size>px_<dtype>.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import jax
import numpy as np
from sklearn.datasets import load_digits

from parc_jax import data, finetune, models
from parc_jax._io import machine_stamp

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def bench_model(name: str, args) -> dict:
    try:
        zoo = models.load(name, pretrained=True)
    except ValueError:  # no pretrained weights here: the speed is the same with random ones
        zoo = models.load(name, pretrained=False)
    bb = finetune.Backbone(name, zoo.info.source_dataset, zoo.module, zoo.variables, zoo.info.preprocessing)
    config = finetune.default_config()
    config.mode = args.mode
    config.compute_dtype = args.dtype
    config.image_size = args.image_size
    net = finetune.make_network(bb, 10, config)
    mesh = finetune.global_mesh()
    trainer = finetune.Trainer(net, finetune.make_optimizer(config, 0.01, 1e-4, 1000), mesh)
    head = net.init_head(net.feature_dim(bb.variables, args.image_size))
    state = trainer.init_state(bb.variables["params"], bb.variables.get("batch_stats"), head)
    digits = load_digits()
    idx = np.random.default_rng(0).choice(len(digits.target), args.batch_size, replace=False)
    raw = np.rint(digits.images[idx] * 255 / 16).astype(np.uint8)[..., None]
    spec = finetune.model_preprocessing(bb, args.image_size)
    images = np.asarray(data.eval_transform(raw, spec))
    labels = digits.target[idx].astype(np.int32)
    t0 = time.perf_counter()
    state, metrics = trainer.step(state, images, labels)
    jax.block_until_ready(metrics)
    compile_s = time.perf_counter() - t0
    for _ in range(args.warmup):
        state, metrics = trainer.step(state, images, labels)
    jax.block_until_ready(metrics)
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        state, metrics = trainer.step(state, images, labels)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - t0)
    step = float(np.median(times))
    return {
        "model": name,
        "weights": zoo.info.weights if zoo.info.weights == "random" else "pretrained",
        "num_params": zoo.info.num_params,
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "dtype": args.dtype,
        "mode": args.mode,
        "compile_s": round(compile_s, 2),
        "step_s_median": round(step, 4),
        "step_s_min": round(float(np.min(times)), 4),
        "images_per_s": round(args.batch_size / step, 1),
        "final_loss": float(metrics["loss"]),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="resnet50,efficientnet_lite0")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    p.add_argument("--mode", default="finetune", choices=("finetune", "linear_probe"))
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    args = p.parse_args()
    dev = jax.devices()[0]
    rows = [bench_model(m, args) for m in args.models.split(",")]
    meta = {
        **machine_stamp(),
        "command": "python benchmarks/finetune.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()),
    }
    stem = f"finetune_{dev.platform}_{args.image_size}px_{args.dtype}"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps({"meta": meta, "results": rows}, indent=1))
    lines = [
        f"Fine-tuning train step, {meta['device']} x{meta['num_devices']} ({dev.platform}), "
        f"{args.image_size} px, {args.dtype}, batch {args.batch_size}, mode {args.mode}",
        "",
        "| model | params | compile (s) | step (s, median) | images/s |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} ({r['weights']}) | {r['num_params'] / 1e6:.1f} M | {r['compile_s']} "
            f"| {r['step_s_median']} | {r['images_per_s']} |"
        )
    lines += ["", f"Command: `{meta['command']}`"]
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
