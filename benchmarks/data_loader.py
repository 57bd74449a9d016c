"""Input-pipeline throughput of parc_jax.data at 224 px: photos of one size vs photos of varying sizes.

Two TFDS datasets (``Image`` features, array_record) hold the same number of real-photo JPEGs
(random crops of scikit-image's sample photos): ``fixed``, every image 375 x 500, and ``varying``,
every image of its own size (300-500 px a side). Probing the varying one should run within 2x the
images/s of the fixed one: its images are resampled on the host to the 256 x 256 square of the eval
crop and the device compiles one program, where the fixed one is resampled on the device. Per
dataset (and per built-in dataset with ``--builtins``), after one warm-up batch:

* ``read``: uint8 batches as probing and fine-tuning read them (``Dataset.batches`` with the
  model's preprocessing);
* ``eval_224``: the same plus the eval transform on the default backend (resize 256, centre crop
  224, RGB, normalise), waited for;
* ``train_224``: the fine-tuning stream (``finetune.TrainStream``) with random resized crop + flip;
* ``first_s``: the warm-up eval batch (decoding, compilation), and ``programs``: eval programs
  compiled over the whole run.

Usage::

  python benchmarks/data_loader.py [--images 512] [--batch-size 64] [--builtins] [--tag cpu]

Writes ``benchmarks/results/data_loader_<tag>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import pathlib
import tempfile
import time

import jax
import numpy as np
import tensorflow_datasets as tfds
from PIL import Image
from skimage import data as skdata

from parc_jax import data, finetune, models
from parc_jax._io import machine_stamp

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
PREP = models.Preprocessing(224, 256, (123.675, 116.28, 103.53), (58.395, 57.12, 57.375))


class Photos(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """``count`` JPEG crops of real photos, 375 x 500 (``fixed``) or 300-500 px a side (``varying``)."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [tfds.core.BuilderConfig(name="fixed"), tfds.core.BuilderConfig(name="varying")]
    name = "photos"

    def __init__(self, *, count: int, **kwargs):
        self.count = count
        super().__init__(**kwargs)

    def _info(self):
        shape = (375, 500, 3) if self.builder_config.name == "fixed" else (None, None, 3)
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=shape, encoding_format="jpeg"),
                    "label": tfds.features.ClassLabel(names=["cat", "coffee", "astronaut"]),
                }
            ),
            supervised_keys=("image", "label"),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        photos = [skdata.chelsea(), skdata.coffee(), skdata.astronaut()]
        rng = np.random.default_rng(0)
        for i in range(self.count):
            img = photos[i % 3]
            h, w = img.shape[:2]
            ch, cw = int(rng.integers(h // 2, h + 1)), int(rng.integers(w // 2, w + 1))
            top, left = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            size = (500, 375) if self.builder_config.name == "fixed" else tuple(rng.integers(300, 501, 2))
            crop = Image.fromarray(img[top : top + ch, left : left + cw]).resize(size, Image.Resampling.BILINEAR)
            buf = io.BytesIO()
            crop.save(buf, format="JPEG", quality=90)
            yield i, {"image": buf.getvalue(), "label": i % 3}


def _rate(batches, finish) -> tuple[float, float]:
    """(seconds of the first batch, images/s over the others)."""
    it = iter(batches)
    start = time.perf_counter()
    finish(next(it))
    first = time.perf_counter() - start
    start, seen = time.perf_counter(), 0
    for batch in it:
        finish(batch)
        seen += len(batch["label"])
    return first, seen / (time.perf_counter() - start)


def bench(name: str, ds: data.Dataset, args) -> dict:
    """Times ``--images`` images in full batches (a smaller split is read cyclically)."""
    n_batches = max(1, args.images // args.batch_size)
    idx = np.arange((n_batches + 1) * args.batch_size) % len(ds)
    shapes = {ds[i]["image"].shape for i in range(min(len(ds), 64))}
    row = {
        "dataset": name,
        "examples": len(ds),
        "timed_images": n_batches * args.batch_size,
        "stored_shape": list(ds.image_shape),
        "distinct_shapes_in_first_64": len(shapes),
    }
    programs = models.preprocess_images._cache_size()
    _, row["read_img_s"] = _rate(ds.batches(args.batch_size, indices=idx, preprocessing=PREP), lambda b: None)
    row["first_s"], row["eval_224_img_s"] = _rate(
        ds.batches(args.batch_size, indices=idx, preprocessing=PREP),
        lambda b: data.eval_transform(b["image"], PREP).block_until_ready(),
    )
    row["programs"] = models.preprocess_images._cache_size() - programs
    stream = finetune.TrainStream(
        ds,
        args.batch_size,
        seed=0,
        preprocessing=PREP,
        transform=lambda images, step: data.train_transform(images, PREP, seed=0, step=step),
    )
    batches = ({"image": stream(t)[0], "label": np.zeros(args.batch_size)} for t in range(n_batches + 1))
    _, row["train_224_img_s"] = _rate(batches, lambda b: b["image"].block_until_ready())
    logging.info("%s", row)
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=512, help="images timed per measurement (and per photo set)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--builtins", action="store_true", help="also the built-in datasets (prepared on first use)")
    p.add_argument("--data-dir", default=None, help="built-in datasets (default: parc_jax's)")
    p.add_argument("--tag", default=None, help="results file suffix (default: jax backend)")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for config in ("fixed", "varying"):
            start = time.perf_counter()
            Photos(count=args.images, config=config, data_dir=tmp).download_and_prepare(file_format="array_record")
            logging.info("prepared %s photos in %.1f s", config, time.perf_counter() - start)
            rows.append(bench(f"photos/{config}", data.load(f"photos/{config}", data_dir=tmp), args))
    if args.builtins:
        for name in data.builtin_names():
            rows.append(bench(name, data.load(name, "train", data_dir=args.data_dir), args))
    tag = args.tag or jax.default_backend()
    machine = machine_stamp()
    fixed, varying = rows[0]["eval_224_img_s"], rows[1]["eval_224_img_s"]
    result = {
        "machine": machine,
        "batch_size": args.batch_size,
        "varying_over_fixed_eval": varying / fixed,
        "results": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"data_loader_{tag}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"# parc_jax.data loader throughput ({tag})",
        "",
        f"{machine['date']}; {machine['cpu']} ({machine['cores']} cores); jax {machine['jax']} on "
        f"{machine['backend']} ({machine['device']}); batch {args.batch_size}; images/s after one warm-up "
        "batch. `read`: uint8 batches with the model's preprocessing (varying sizes: resampled on the host to "
        "256 x 256); `eval 224`: + resize 256 + centre crop 224 + RGB + normalise on the device; `train 224`: "
        "shuffled stream + random resized crop + flip; `first (s)`: the warm-up eval batch; `programs`: eval "
        f"programs compiled. 1-minute load average: {machine['load_average_1min'] or 0:.1f}.",
        "",
        f"Varying sizes / fixed size, eval 224 images/s: **{varying / fixed:.2f}**.",
        "",
        "| dataset | examples | stored shape | shapes (first 64) | read img/s | eval 224 img/s | train 224 img/s "
        "| first (s) | programs |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['examples']} | {tuple(r['stored_shape'])} | "
            f"{r['distinct_shapes_in_first_64']} | {r['read_img_s']:,.0f} | {r['eval_224_img_s']:,.0f} | "
            f"{r['train_224_img_s']:,.0f} | {r['first_s']:.2f} | {r['programs']} |"
        )
    (RESULTS / f"data_loader_{tag}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
