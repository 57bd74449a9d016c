"""Input-pipeline throughput: images/s of parc_jax.data alone, per builder, at 224 px.

For every built-in builder (and an image folder of real photos, made from scikit-image's
sample images) it measures, after one warm-up batch:

* ``read``: uint8 batches straight from the array_record files (``Dataset.batches``);
* ``eval_224``: the same plus the eval transform (antialiased resize to 256, centre crop 224,
  RGB, normalise; ``jax`` on the default backend, result copied back to numpy);
* ``train_224``: the shuffled training stream with random resized crop + flip to 224.

Usage::

  python benchmarks/data_loader.py [--data-dir DIR] [--max-images 8192] [--batch-size 256]

Writes ``benchmarks/results/data_loader_<backend>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import logging
import os
import pathlib
import platform
import tempfile
import time

import jax
import numpy as np
from PIL import Image
from skimage import data as skdata

from parc_jax import data

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


@dataclasses.dataclass(frozen=True)
class ImageNetPreprocessing:
    input_size: int = 224
    resize_size: int = 256
    mean: tuple = (123.675, 116.28, 103.53)
    std: tuple = (58.395, 57.12, 57.375)


def make_photo_folder(root: pathlib.Path, per_class: int = 100, seed: int = 0) -> pathlib.Path:
    """Random 300-500 px JPEG crops of real photos, one class per photo."""
    photos = {"cat": skdata.chelsea(), "coffee": skdata.coffee(), "astronaut": skdata.astronaut()}
    rng = np.random.default_rng(seed)
    for name, img in photos.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        h, w = img.shape[:2]
        for i in range(per_class):
            ch, cw = rng.integers(min(h, 300) // 2, min(h, 300) + 1), rng.integers(w // 2, w + 1)
            t, l = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
            crop = Image.fromarray(img[t:t + ch, l:l + cw])
            side = int(rng.integers(300, 501))
            crop.resize((side, int(side * ch / cw))).save(root / name / f"{i:04d}.jpg", quality=90)
    return root


def _machine() -> dict:
    cpu = "unknown"
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    dev = jax.devices()[0]
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(), "jax": jax.__version__,
            "jax_backend": jax.default_backend(), "device": str(dev.device_kind),
            "load_average_1min_at_end": round(os.getloadavg()[0], 2),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def _rate(batches) -> float:
    """Images/s over all batches but the first (warm-up: compiles the transform)."""
    it = iter(batches)
    next(it)
    start = time.perf_counter()
    seen = sum(len(batch["label"]) for batch in it)
    return seen / (time.perf_counter() - start)


def bench(name: str, ds: data.Dataset, args, prep_s: float | None) -> dict:
    """Times full batches only; a split smaller than ``max_images`` is read cyclically."""
    n_batches = max(1, args.max_images // args.batch_size)
    idx = np.arange((n_batches + 1) * args.batch_size) % len(ds)
    prep = ImageNetPreprocessing()
    row = {"dataset": name, "split": ds.split, "examples": len(ds),
           "timed_images": n_batches * args.batch_size, "image_shape": list(ds.image_shape),
           "prepare_s": prep_s}
    row["read_img_s"] = _rate(ds.batches(args.batch_size, indices=idx))
    row["eval_224_img_s"] = _rate(ds.batches(args.batch_size, indices=idx, preprocessing=prep))
    stream = ds.train_batches(args.batch_size, seed=0, preprocessing=prep,
                              num_steps=n_batches + 1)
    row["train_224_img_s"] = _rate(b for _, b in stream)
    logging.info("%s", row)
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=None, help="prepared-data folder (default: parc_jax's)")
    p.add_argument("--max-images", type=int, default=4096)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--tag", default=None, help="results file suffix (default: jax backend)")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    data_dir = pathlib.Path(args.data_dir) if args.data_dir else data.default_data_dir()
    rows = []
    for name in data.builtin_names():
        start = time.perf_counter()
        already = data.builders.BUILTIN[name](data_dir=str(data_dir)).is_prepared()
        ds = data.load(name, "train", data_dir=data_dir)
        rows.append(bench(name, ds, args, None if already else time.perf_counter() - start))
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_photo_folder(pathlib.Path(tmp) / "photos")
        start = time.perf_counter()
        ds = data.load(str(folder), "train", data_dir=pathlib.Path(tmp) / "tfds", image_size=256)
        prep_s = time.perf_counter() - start
        rows.append(bench("image_folder (300 JPEGs, 300-500 px, stored at 256)", ds, args, prep_s))
    tag = args.tag or jax.default_backend()
    result = {"machine": _machine(), "batch_size": args.batch_size, "results": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"data_loader_{tag}.json").write_text(json.dumps(result, indent=2) + "\n")
    m = result["machine"]
    lines = [
        f"# parc_jax.data loader throughput ({tag})", "",
        f"{m['date']}; {m['cpu']} ({m['cpu_count']} cores); jax {m['jax']} on "
        f"{m['jax_backend']} ({m['device']}); batch {args.batch_size}; images/s after one "
        "warm-up batch. `read`: uint8 batches from array_record; `eval 224`: + resize 256 "
        "(antialiased) + centre crop 224 + RGB + normalise, copied back to numpy; `train 224`: "
        "shuffled stream + random resized crop + flip. 1-minute load average at the end: "
        f"{m['load_average_1min_at_end']} (other processes share the machine).", "",
        "| dataset | examples | stored shape | prepare (s) | read img/s | eval 224 img/s | "
        "train 224 img/s |",
        "|---|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        prep = "reused" if r["prepare_s"] is None else f"{r['prepare_s']:.1f}"
        lines.append(f"| {r['dataset']} | {r['examples']} | {tuple(r['image_shape'])} | {prep} | "
                     f"{r['read_img_s']:,.0f} | {r['eval_224_img_s']:,.0f} | "
                     f"{r['train_224_img_s']:,.0f} |")
    (RESULTS / f"data_loader_{tag}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
