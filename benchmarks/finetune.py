"""Fine-tuning speed: training images/s and step time of the compiled, data-parallel train step.

Times :class:`parc_jax.finetune.Trainer` (forward, backward, SGD update, BatchNorm statistics)
on real images (scikit-learn digits, preprocessed to the model input once, as the augmentation
hands them over) for ResNet-50 and EfficientNet-Lite0 with a new 10-way head. Compilation is
timed separately; then ``--steps`` steps are timed after ``--warmup`` steps, with
``block_until_ready``.

Achieved GFLOP/s: the floating-point operations of one compiled train step (XLA's own count,
``cost_analysis()["flops"]``: forward, backward and update) over its median time, as a share of the
machine's float32 rates measured in the same run (``machine_rates``): a 2048 x 2048 matrix product and
the forward 3 x 3 convolution of a ResNet stage (64 x 32 x 32 x 64 channels-last), each median of 10.

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
import jax.numpy as jnp
import numpy as np
from _timing import median_seconds
from sklearn.datasets import load_digits

from parc_jax import data, finetune, models
from parc_jax._io import machine_stamp

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def machine_rates() -> dict:
    """Float32 GFLOP/s of a 2048^3 matrix product and of a 3 x 3, 64 -> 64 channel convolution on a
    [64, 32, 32, 64] batch (2 flops per multiply-add), on the default device."""
    rng = np.random.default_rng(0)
    a, b = (jax.device_put(rng.normal(size=(2048, 2048)).astype(np.float32)) for _ in range(2))
    matmul = jax.jit(lambda x, y: jnp.matmul(x, y, precision="highest"))
    x = jax.device_put(rng.normal(size=(64, 32, 32, 64)).astype(np.float32))
    w = jax.device_put(rng.normal(size=(3, 3, 64, 64)).astype(np.float32))
    conv = jax.jit(
        lambda x, w: jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    )
    return {
        "matmul_gflops": round(2 * 2048**3 / median_seconds(matmul, a, b, repeats=10)[0] / 1e9, 1),
        "conv3x3_gflops": round(2 * 64 * 32 * 32 * 64 * 64 * 9 / median_seconds(conv, x, w, repeats=10)[0] / 1e9, 1),
    }


def bench_model(name: str, args, rates: dict) -> dict:
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
    step_flops = _step_flops(trainer, state, images, labels)
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
    gflops = step_flops / step / 1e9
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
        "step_gflop": round(step_flops / 1e9, 2),
        "achieved_gflops": round(gflops, 1),
        "share_of_matmul": round(gflops / rates["matmul_gflops"], 3),
        "final_loss": float(metrics["loss"]),
    }


def _step_flops(trainer, state, images, labels) -> float:
    """XLA's floating-point operation count of one compiled train step (from the same lowering)."""
    batch = (jax.device_put(v, trainer.data_sharding) for v in (images, labels))
    key = jax.device_put(jax.random.PRNGKey(0), trainer.replicated)
    analysis = trainer.train_step.lower(state, *batch, key).compile().cost_analysis()
    return float((analysis[0] if isinstance(analysis, list) else analysis)["flops"])


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
    rates = machine_rates()
    rows = [bench_model(m, args, rates) for m in args.models.split(",")]
    meta = {
        **machine_stamp(),
        **rates,
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
        f"Machine float32 rates measured in this run: matrix product {rates['matmul_gflops']} GFLOP/s, "
        f"3x3 convolution {rates['conv3x3_gflops']} GFLOP/s.",
        "",
        "| model | params | compile (s) | step (s, median) | images/s | GFLOP / step | GFLOP/s | share of matmul |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} ({r['weights']}) | {r['num_params'] / 1e6:.1f} M | {r['compile_s']} "
            f"| {r['step_s_median']} | {r['images_per_s']} | {r['step_gflop']} | {r['achieved_gflops']} "
            f"| {r['share_of_matmul']:.0%} |"
        )
    lines += ["", f"Command: `{meta['command']}`"]
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
