"""Opening datasets by name: the built-in offline builders, image folders, any prepared TFDS set.

Data directory: ``data_dir`` if given, else ``$PARC_JAX_DATA_DIR``, else ``$TFDS_DATA_DIR``,
else ``~/tensorflow_datasets``; a local path or any URL TFDS reads through ``etils.epath``
(``gs://bucket/tfds``, ...). Built-in datasets are prepared there on first use (from local files
only) and reused. Nothing is downloaded unless ``download=True``.

A TFDS dataset is read through TFDS's random-access data source, which needs its files in
array_record format: prepared with ``--file_format=array_record``, or converted in place
(``tfds convert_format``, which records array_record as an alternative format of the dataset).
Which features are the image and the label: the first two ``supervised_keys`` (a third, e.g.
sample weights or file names, is ignored), else the dataset's only ``Image`` and ``ClassLabel``
features (a ``ClassLabel`` named ``label`` when there are several), or the names passed.
"""

from __future__ import annotations

import logging
import os
import pathlib

import tensorflow_datasets as tfds
from etils import epath

from parc_jax.data import _images
from parc_jax.data import builders as builders_lib
from parc_jax.data.builders import DataUnavailableError
from parc_jax.data.dataset import Dataset

log = logging.getLogger(__name__)

DATA_DIR_ENV = "PARC_JAX_DATA_DIR"


def default_data_dir() -> epath.Path:
    """``$PARC_JAX_DATA_DIR``, else ``$TFDS_DATA_DIR``, else ``~/tensorflow_datasets``."""
    d = os.environ.get(DATA_DIR_ENV) or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
    return epath.Path(d).expanduser()


def _data_dir(data_dir) -> epath.Path:
    """``data_dir`` (a path or URL, kept as given) or the default."""
    return epath.Path(data_dir).expanduser() if data_dir else default_data_dir()


def builtin_names() -> list[str]:
    """Names of the offline builders shipped with parc_jax."""
    return sorted(builders_lib.BUILTIN)


def _prepared_names(data_dir: epath.Path) -> list[str]:
    """Dataset folders of ``data_dir`` holding a prepared version (``name[/config]/version``)."""
    if not data_dir.is_dir():
        return []
    names = {p.parents[1].name for p in data_dir.glob("*/*/dataset_info.json")}
    names |= {p.parents[2].name for p in data_dir.glob("*/*/*/dataset_info.json")}
    return sorted(names)


def get_builder(
    name: str,
    *,
    data_dir=None,
    download: bool = False,
    max_per_split: int | None = None,
    image_size: int | None = 256,
    channels: int = 3,
    test_fraction: float = 0.0,
) -> tfds.core.DatasetBuilder:
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
    data_dir = _data_dir(data_dir)
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
            pathlib.Path(name).expanduser(),
            data_dir=os.fspath(data_dir),
            image_size=image_size,
            channels=channels,
            test_fraction=test_fraction,
        )
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
            "or pass an image folder path"
        ) from e
    if not builder.is_prepared():
        if not download:
            raise DataUnavailableError(
                f"TFDS dataset {name!r} is not prepared in {data_dir}: prepare it where there is "
                f"network with `tfds build {name} --file_format=array_record --data_dir={data_dir}` "
                "(needs tensorflow), or pass download=True"
            )
        builder.download_and_prepare(file_format="array_record")
    random_access = tfds.core.FileFormat.with_random_access()
    if not builder.info.available_file_formats() & random_access:
        raise ValueError(
            f"{name!r} in {data_dir} is stored as {builder.info.file_format.value}, but random access needs "
            f"array_record: convert it in place with `tfds convert_format --dataset_version_dir="
            f"{builder.data_dir} --out_file_format=array_record` (TFDS's command line needs tensorflow, "
            "apache_beam and mlcroissant installed)"
        )
    return builder


def feature_keys(
    info: tfds.core.DatasetInfo, *, image_key: str | None = None, label_key: str | None = None
) -> tuple[str, str]:
    """``(image feature, label feature)`` of a dataset (module docstring); explicit names win.

    Raises:
      ValueError: a named feature is missing, or no image / label feature can be told apart.
    """
    features = info.features
    keys = info.supervised_keys or ()
    if len(keys) >= 2 and all(isinstance(k, str) for k in keys[:2]):
        image_key, label_key = image_key or keys[0], label_key or keys[1]
    kinds = {"image": (tfds.features.Image, tfds.features.Tensor), "label": (tfds.features.ClassLabel,)}
    found = {}
    for role, given in (("image", image_key), ("label", label_key)):
        if given is not None:
            if given not in features:
                raise ValueError(
                    f"{info.name} has no feature {given!r}; its features are {', '.join(sorted(features.keys()))}"
                )
            found[role] = given
            continue
        candidates = [k for k, f in features.items() if isinstance(f, kinds[role][0])]
        if len(candidates) > 1 and role in candidates:
            candidates = [role]
        if len(candidates) != 1:
            candidates = candidates or [k for k, f in features.items() if isinstance(f, kinds[role])]
        if len(candidates) != 1:
            raise ValueError(
                f"{info.name}: cannot tell which feature is the {role} (features "
                f"{', '.join(sorted(features.keys()))}); name it with {role}_key="
            )
        found[role] = candidates[0]
    return found["image"], found["label"]


def load(
    name: str,
    split: str = "train",
    *,
    data_dir=None,
    download: bool = False,
    max_per_split: int | None = None,
    image_size: int | None = 256,
    channels: int = 3,
    test_fraction: float = 0.0,
    image_key: str | None = None,
    label_key: str | None = None,
) -> Dataset:
    """Opens one split of a dataset for random access and batches.

    Args:
      name: built-in name (``fashion_mnist_deb``, ``mnist5k``, ``digits``), image folder path,
        or a TFDS dataset prepared (array_record) under ``data_dir``.
      split: split name (``"train"``, ``"test"``, ``"validation"``, ...).
      data_dir, download, max_per_split, image_size, channels, test_fraction: see
        :func:`get_builder`.
      image_key, label_key: the image and label features (default: :func:`feature_keys`).

    Returns:
      A :class:`Dataset`; its images have 1 or 3 channels whatever the stored colour mode.

    Raises:
      ValueError: unknown dataset, missing split (the message lists the splits), data
        unavailable, no image or label feature.
    """
    builder = get_builder(
        name,
        data_dir=data_dir,
        download=download,
        max_per_split=max_per_split,
        image_size=image_size,
        channels=channels,
        test_fraction=test_fraction,
    )
    info = builder.info
    splits = {k: int(v.num_examples) for k, v in info.splits.items()}
    if split not in splits:
        raise ValueError(f"dataset {name!r} has no split {split!r}; its splits are {', '.join(sorted(splits))}")
    image_key, label_key = feature_keys(info, image_key=image_key, label_key=label_key)
    image_feature, label_feature = info.features[image_key], info.features[label_key]
    shape = tuple(image_feature.shape)
    if len(shape) != 3:
        raise ValueError(f"{name!r}: feature {image_key!r} has shape {shape}, not an image [H, W, C]")
    class_names = None
    num_classes = None
    if isinstance(label_feature, tfds.features.ClassLabel):
        num_classes = label_feature.num_classes
        class_names = list(label_feature.names)
    # Encoded images stay encoded: the Dataset decodes the one it needs (_images), others never.
    decoders = {k: tfds.decode.SkipDecoding() for k, f in info.features.items() if isinstance(f, tfds.features.Image)}
    source = builder.as_data_source(split=split, decoders=decoders or None)
    local = "://" not in os.fspath(builder.data_dir)
    ds = Dataset(
        source,
        name=builder.name if name in builders_lib.BUILTIN else name,
        split=split,
        num_classes=num_classes or 0,
        class_names=class_names,
        split_sizes=splits,
        image_shape=shape[:2] + (_images.output_channels(shape[2]),),
        image_key=image_key,
        label_key=label_key,
        label_cache=(
            pathlib.Path(os.fspath(builder.data_dir)) / f"parc_jax-labels-{split}-{label_key}.npy" if local else None
        ),
    )
    if num_classes is None:
        ds.num_classes = int(ds.labels.max()) + 1
    return ds
