"""Probe a bank of models on a target: sample the probe set, extract, cache.

`probe_bank` draws PARC's probe set from a dataset's train split (`data.sample_probe` with the seed of
run r, 2020 + 3037 r), runs every model of the bank over it with `extract` (data-parallel over all
local devices) and returns one `ProbeRecord` per model. Probe sets are cached on disk per (model,
weights, dataset, split, sampler, seed, size, dtype), so a rerun loads instead of extracting, and a
model is only built on a cache miss.
"""

from __future__ import annotations

import functools
import logging
import os
import pathlib
from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np

from parc_jax import data, models
from parc_jax.bank._entries import BankEntry
from parc_jax.bank._probe_files import ProbeRecord
from parc_jax.extract import ProbeCache, ProbeKey, extract

log = logging.getLogger(__name__)

CACHE_ENV = "PARC_JAX_CACHE"


def default_cache_dir() -> pathlib.Path:
    """$PARC_JAX_CACHE, else ~/.cache/parc_jax/probes."""
    return pathlib.Path(os.environ.get(CACHE_ENV, "~/.cache/parc_jax/probes")).expanduser()


def sample_probe_set(
    dataset: str, *, split="train", budget=500, run=0, sampler="fixed", data_dir=None, label_key=None
) -> tuple[data.Dataset, np.ndarray]:
    """The target split and the indices of PARC's probe set of run `run` in it (`label_key`: see `data.load`)."""
    ds = data.load(dataset, split, data_dir=data_dir, label_key=label_key)
    if len(ds.labels) and int(np.min(ds.labels)) < 0:
        raise ValueError(
            f"{dataset} split {split!r} is unlabelled (label {int(np.min(ds.labels))}); "
            "draw the probe set from a labelled split"
        )
    seed = data.parc_seed(run)
    if sampler == "fixed":
        indices = data.sample_probe(ds.labels, budget=budget, seed=seed, method="fixed")
    elif sampler == "balanced":
        per_class = max(2, budget // ds.num_classes)
        indices = data.sample_probe(ds.labels, seed=seed, method="balanced", per_class=per_class)
    else:
        raise ValueError(f"unknown sampler {sampler!r}; use 'fixed' or 'balanced'")
    return ds, indices


def probe_bank(
    bank: Sequence[BankEntry],
    dataset: str,
    *,
    split: str = "train",
    budget: int = 500,
    run: int = 0,
    sampler: str = "fixed",
    data_dir=None,
    cache_dir=None,
    batch_size: int = 128,
    strategy: str = "mesh",
    dtype: str = "float32",
    progress: bool = True,
    label_key: str | None = None,
) -> list[ProbeRecord]:
    """Probe every model of `bank` on `dataset`; cached per model and probe set.

    Images of any size are brought to each model's input (`data.Dataset.take`, `data.eval_transform`); `label_key`
    names the label feature when it is not the dataset's default (`data.feature_keys`).
    """
    ds, indices = sample_probe_set(
        dataset, split=split, budget=budget, run=run, sampler=sampler, data_dir=data_dir, label_key=label_key
    )
    labels = ds.labels[indices]

    @functools.lru_cache(maxsize=1)
    def probe_images(spec):  # images of varying sizes are brought to the model's size on the host
        return ds.take(indices, preprocessing=spec)["image"]

    cache = ProbeCache(cache_dir or default_cache_dir())
    records = []
    for entry in bank:
        key = ProbeKey(
            model=entry.name,
            dataset=dataset,
            split=split,
            sampler=sampler,
            seed=data.parc_seed(run),
            size=len(indices),
            dtype=dtype,
            extra={
                "zoo_model": entry.model,
                "weights": entry.fingerprint(),
                "image_size": entry.image_size,
                "indices_sum": int(np.sum(indices)),
                **({"label_key": label_key} if label_key else {}),
            },
        )

        def compute(entry=entry):
            log.info("extracting %s on %s (%d images)", entry.name, dataset, len(indices))
            model = entry.load()
            spec = entry.preprocessing(model)
            images = probe_images(spec if ds.varying_sizes else None)
            return extract(
                lambda v, x: model.apply(v, x, train=False),
                model.variables,
                images,
                labels=labels,
                batch_size=batch_size,
                strategy=strategy,
                dtype=getattr(jnp, dtype),
                preprocess=lambda x: models.preprocess_images(x, spec),
                progress=progress,
            )

        probe = cache.get_or_compute(key, compute)
        records.append(
            ProbeRecord(
                model=entry.name,
                probe=probe,
                architecture=entry.architecture,
                source_dataset=entry.source_dataset,
                target_dataset=dataset,
                num_classes=ds.num_classes,
            )
        )
    return records
