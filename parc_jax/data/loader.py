"""Opening datasets by name: the built-in offline builders, image folders, any prepared TFDS set.

Data directory: ``data_dir`` if given, else ``$PARC_JAX_DATA_DIR``, else ``$TFDS_DATA_DIR``,
else ``~/tensorflow_datasets``. Built-in datasets are prepared there on first use (from local
files only) and reused. Nothing is downloaded unless ``download=True``.
"""

from __future__ import annotations

import logging
import os
import pathlib

import tensorflow_datasets as tfds

from parc_jax.data import builders as builders_lib
from parc_jax.data.builders import DataUnavailableError
from parc_jax.data.dataset import Dataset

log = logging.getLogger(__name__)

DATA_DIR_ENV = "PARC_JAX_DATA_DIR"


def default_data_dir() -> pathlib.Path:
    """``$PARC_JAX_DATA_DIR``, else ``$TFDS_DATA_DIR``, else ``~/tensorflow_datasets``."""
    d = os.environ.get(DATA_DIR_ENV) or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
    return pathlib.Path(d).expanduser()


def builtin_names() -> list[str]:
    """Names of the offline builders shipped with parc_jax."""
    return sorted(builders_lib.BUILTIN)


def _prepared_names(data_dir: pathlib.Path) -> list[str]:
    """Dataset folders of ``data_dir`` holding a prepared version (``name[/config]/version``)."""
    if not data_dir.is_dir():
        return []
    names = {p.parents[1].name for p in data_dir.glob("*/*/dataset_info.json")}
    names |= {p.parents[2].name for p in data_dir.glob("*/*/*/dataset_info.json")}
    return sorted(names)


def get_builder(name: str, *, data_dir=None, download: bool = False,
                max_per_split: int | None = None, image_size: int | None = 256,
                channels: int = 3, test_fraction: float = 0.0) -> tfds.core.DatasetBuilder:
    """A prepared array_record builder for ``name`` (preparing built-ins and folders if needed).

    Args:
      name: a built-in name (:func:`builtin_names`), a path to an image folder (an existing
        folder, or any name starting with ``/``, ``.`` or ``~``), or the name of a TFDS dataset
        (optionally ``name/config:version``) prepared under ``data_dir``.
      data_dir: where prepared datasets live (default :func:`default_data_dir`).
      download: for TFDS datasets that are not prepared, download and prepare them
        (needs network, and TensorFlow for most TFDS builders).
      max_per_split: built-ins only: keep the first ``max_per_split`` examples of every split
        (a separate prepared copy; for quick tests).
      image_size, channels, test_fraction: image folders only (see
        :func:`builders.image_folder_builder`).

    Raises:
      DataUnavailableError (a ValueError): source data missing, or dataset not prepared.
      ValueError: unknown name, or the dataset is not in array_record format.
    """
    data_dir = pathlib.Path(data_dir).expanduser() if data_dir else default_data_dir()
    if name in builders_lib.BUILTIN:
        kwargs = {}
        if max_per_split is not None:
            kwargs["config"] = builders_lib.subset_config(max_per_split)
        builder = builders_lib.BUILTIN[name](data_dir=os.fspath(data_dir), **kwargs)
        if not builder.is_prepared():
            builder.check_source()
            log.info("preparing %s into %s", name, builder.data_dir)
            builder.download_and_prepare(file_format="array_record")
        return builder
    if name.startswith(("/", ".", "~")) or pathlib.Path(name).expanduser().is_dir():
        builder = builders_lib.image_folder_builder(
            pathlib.Path(name).expanduser(), data_dir=data_dir, image_size=image_size,
            channels=channels, test_fraction=test_fraction)
        if not builder.is_prepared():
            log.info("preparing image folder %s into %s", name, builder.data_dir)
            builder.download_and_prepare(file_format="array_record")
            skipped = sum(builder.skipped.values())
            if skipped:
                log.warning("image folder %s: skipped %s", name, builder.skipped)
        return builder
    try:
        builder = tfds.builder(name, data_dir=os.fspath(data_dir))
    except tfds.core.registered.DatasetNotFoundError as e:
        raise ValueError(
            f"unknown dataset {name!r}: built-in datasets are {', '.join(builtin_names())}; "
            f"prepared in {data_dir}: {', '.join(_prepared_names(data_dir)) or 'none'}; "
            "or pass an image folder path") from e
    if not builder.is_prepared():
        if not download:
            raise DataUnavailableError(
                f"TFDS dataset {name!r} is not prepared in {data_dir}: prepare it where there is "
                f"network with `tfds build {name} --file_format=array_record --data_dir={data_dir}` "
                "(needs tensorflow), or pass download=True")
        builder.download_and_prepare(file_format="array_record")
    fmt = builder.info.file_format
    if fmt is not None and fmt != tfds.core.FileFormat.ARRAY_RECORD:
        raise ValueError(
            f"{name!r} in {data_dir} is stored as {fmt.value}, but random access needs "
            f"array_record: convert it with `tfds convert_format --dataset_dir="
            f"{builder.data_dir} --out_file_format=array_record` (needs tensorflow)")
    return builder


def load(name: str, split: str = "train", *, data_dir=None, download: bool = False,
         max_per_split: int | None = None, image_size: int | None = 256, channels: int = 3,
         test_fraction: float = 0.0) -> Dataset:
    """Opens one split of a dataset for random access, batches and training streams.

    Args:
      name: built-in name (``fashion_mnist_deb``, ``mnist5k``, ``digits``), image folder path,
        or a TFDS dataset prepared (array_record) under ``data_dir``.
      split: split name (``"train"``, ``"test"``, ...).
      data_dir, download, max_per_split, image_size, channels, test_fraction: see
        :func:`get_builder`.

    Returns:
      A :class:`Dataset`.

    Raises:
      ValueError: unknown dataset, missing split (the message lists both), data unavailable.
    """
    builder = get_builder(name, data_dir=data_dir, download=download,
                          max_per_split=max_per_split, image_size=image_size, channels=channels,
                          test_fraction=test_fraction)
    info = builder.info
    splits = {k: int(v.num_examples) for k, v in info.splits.items()}
    if split not in splits:
        raise ValueError(f"dataset {name!r} has no split {split!r}; its splits are "
                         f"{', '.join(sorted(splits))}")
    image_key, label_key = info.supervised_keys or ("image", "label")
    if not isinstance(image_key, str) or not isinstance(label_key, str):
        raise ValueError(f"{name!r}: nested supervised keys {info.supervised_keys} are unsupported")
    features = info.features
    if image_key not in features or label_key not in features:
        raise ValueError(f"{name!r} has features {sorted(features.keys())}; need an image and a "
                         "label (supervised_keys)")
    label_feature = features[label_key]
    class_names = None
    if isinstance(label_feature, tfds.features.ClassLabel):
        num_classes = label_feature.num_classes
        class_names = list(label_feature.names)
    else:
        num_classes = None
    source = builder.as_data_source(split=split)
    ds = Dataset(source, name=builder.name if name in builders_lib.BUILTIN else name,
                 split=split, num_classes=num_classes or 0, class_names=class_names,
                 split_sizes=splits, image_shape=tuple(features[image_key].shape),
                 image_key=image_key, label_key=label_key,
                 label_cache=pathlib.Path(os.fspath(builder.data_dir)) / f"parc_jax-labels-{split}.npy")
    if num_classes is None:
        ds.num_classes = int(ds.labels.max()) + 1
    return ds


def train_batches(name: str, split: str, batch_size: int, *, seed: int, start_step: int = 0,
                  num_steps: int | None = None, preprocessing=None, augment: bool = True,
                  data_dir=None, **load_kwargs):
    """``load(name, split, ...).train_batches(...)``: yields ``(step, batch)`` from ``start_step``.

    See :meth:`Dataset.train_batches`; batch ``t`` depends only on ``(seed, t)``.
    """
    ds = load(name, split, data_dir=data_dir, **load_kwargs)
    return ds.train_batches(batch_size, seed=seed, start_step=start_step, num_steps=num_steps,
                            preprocessing=preprocessing, augment=augment)
