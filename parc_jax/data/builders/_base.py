"""Shared machinery for the offline TFDS builders: fixed-shape uint8 images + class labels.

Every builder here writes ``array_record`` files whose features are a
``tfds.features.Tensor(shape=(H, W, C), dtype=np.uint8, encoding=BYTES)`` image (raw bytes:
the default int64-list encoding parses ~10x slower) and a ``ClassLabel``, so that
it prepares (``download_and_prepare(file_format="array_record")``) and reads
(``as_data_source()``) without TensorFlow.
"""

from __future__ import annotations

import abc
import dataclasses
import importlib
import logging

import numpy as np
import tensorflow_datasets as tfds

log = logging.getLogger(__name__)


class DataUnavailableError(ValueError):
    """Source data or a prepared dataset is missing; the message says how to get it."""


@dataclasses.dataclass(eq=False)
class SubsetConfig(tfds.core.BuilderConfig):
    """Builder config: the full dataset, or the first ``max_per_split`` examples of every split.

    Subsets exist for fast tests; they prepare into their own folder (``<name>/<config>/``).
    """

    max_per_split: int | None = None


FULL = SubsetConfig(name="full", description="All examples of every split.")


def subset_config(max_per_split: int) -> SubsetConfig:
    """Config keeping the first ``max_per_split`` examples of every split (source order)."""
    if max_per_split < 1:
        raise ValueError(f"max_per_split must be >= 1, got {max_per_split}")
    return SubsetConfig(
        name=f"first{max_per_split}",
        max_per_split=max_per_split,
        description=f"The first {max_per_split} examples of every split.",
    )


def stratified_split(labels: np.ndarray, *, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified train/test split of source indices.

    For each class ``c`` in ascending order, the source indices of ``c`` (in source order) are
    permuted with one ``np.random.default_rng(seed)`` generator consumed class by class; the first
    ``round(test_fraction * n_c)`` go to test, the rest to train. Both index lists are returned
    sorted (source order is kept inside each split).

    Args:
      labels: ``[N]`` integer class labels.
      test_fraction: fraction of every class that goes to the test split, in ``(0, 1)``.
      seed: seed of the generator.

    Returns:
      ``(train_indices, test_indices)``, disjoint, covering ``range(N)``.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = int(round(test_fraction * idx.size))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


class ArrayImageBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Base for builders whose source fits in memory as ``uint8 [N, H, W, C]`` + ``int [N]``.

    Subclasses set ``IMAGE_SHAPE``, ``CLASS_NAMES``, ``DESCRIPTION``, ``HOMEPAGE``, ``CITATION``
    and implement :meth:`check_source` and :meth:`load_arrays`.
    """

    BUILDER_CONFIGS = [FULL]
    IMAGE_SHAPE: tuple[int, int, int]
    CLASS_NAMES: tuple[str, ...]
    DESCRIPTION = ""
    HOMEPAGE = ""
    CITATION = ""

    @abc.abstractmethod
    def check_source(self) -> None:
        """Raises :class:`DataUnavailableError` (saying how to install it) if the source is missing."""

    @abc.abstractmethod
    def load_arrays(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Returns ``{split: (images uint8 [N, H, W, C], labels int [N])}`` from the source."""

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.DESCRIPTION,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(
                        shape=self.IMAGE_SHAPE, dtype=np.uint8, encoding=tfds.features.Encoding.BYTES
                    ),
                    "label": tfds.features.ClassLabel(names=list(self.CLASS_NAMES)),
                }
            ),
            supervised_keys=("image", "label"),
            homepage=self.HOMEPAGE,
            citation=self.CITATION,
            disable_shuffling=True,  # keep the source order: indices stay meaningful
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing is downloaded
        self.check_source()
        arrays = self.load_arrays()
        limit = getattr(self.builder_config, "max_per_split", None)
        gens = {}
        for split, (images, labels) in arrays.items():
            if limit is not None:
                images, labels = images[:limit], labels[:limit]
            gens[split] = self._generate_examples(images=images, labels=labels)
        return gens

    def _generate_examples(self, images, labels):
        if images.shape[1:] != tuple(self.IMAGE_SHAPE) or images.dtype != np.uint8:
            raise ValueError(
                f"{self.name}: expected uint8 images of shape {self.IMAGE_SHAPE}, got {images.dtype} {images.shape[1:]}"
            )
        for i in range(images.shape[0]):
            yield i, {"image": images[i], "label": int(labels[i])}


class BundledArrayBuilder(ArrayImageBuilder, skip_registration=True):
    """An :class:`ArrayImageBuilder` over one labelled array set that a Python package ships, split
    stratified: ``TEST_FRACTION`` of every class to test, with ``SPLIT_SEED`` (:func:`stratified_split`).

    Subclasses also set ``SOURCE_MODULE`` (the module bundling the data), ``SOURCE_PACKAGE`` (what to
    ``pip install``) and implement :meth:`load_all`.
    """

    TEST_FRACTION = 0.2
    SPLIT_SEED = 2020
    SOURCE_MODULE: str
    SOURCE_PACKAGE: str

    def check_source(self) -> None:
        try:
            importlib.import_module(self.SOURCE_MODULE)
        except ImportError as e:
            raise DataUnavailableError(
                f"{self.name} needs the copy bundled with {self.SOURCE_MODULE}: `pip install {self.SOURCE_PACKAGE}`"
            ) from e

    @abc.abstractmethod
    def load_all(self) -> tuple[np.ndarray, np.ndarray]:
        """Returns ``(images uint8 [N, H, W, C], labels int [N])`` in source order."""

    def load_arrays(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        images, labels = self.load_all()
        train, test = stratified_split(labels, test_fraction=self.TEST_FRACTION, seed=self.SPLIT_SEED)
        return {"train": (images[train], labels[train]), "test": (images[test], labels[test])}
