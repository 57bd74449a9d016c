"""One split of a prepared dataset: random access and numpy batches of any image sizes."""

from __future__ import annotations

import logging
import os
import pathlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import tqdm

from parc_jax._io import atomic_open
from parc_jax.data import _images
from parc_jax.data import preprocessing as pp

log = logging.getLogger(__name__)

_LABEL_CHUNK = 4096


class Dataset:
    """A split of an array_record TFDS dataset read through ``builder.as_data_source()``.

    Attributes:
      name: dataset name (``"fashion_mnist_deb"``, a TFDS name, or an image folder's config).
      split: split name.
      num_classes: number of classes.
      class_names: class names (``None`` when the label is not a ``ClassLabel``).
      split_sizes: ``{split: number of examples}`` for every split of the dataset.
      image_shape: ``(H, W, C)`` of the images as read (``None`` for H and W when they vary); ``C``
        is 1 or 3 whatever the stored colour mode (see :mod:`parc_jax.data._images`).
    """

    def __init__(
        self,
        source: Sequence[dict[str, Any]],
        *,
        name: str,
        split: str,
        num_classes: int,
        class_names: list[str] | None,
        split_sizes: dict[str, int],
        image_shape: tuple,
        image_key: str = "image",
        label_key: str = "label",
        label_cache: str | os.PathLike | None = None,
    ):
        if len(image_shape) != 3 or image_shape[-1] not in (1, 3):
            raise ValueError(f"{name}: images must be [H, W, C] with C in {{1, 3}}, got {image_shape}")
        self._source = source
        self.name = name
        self.split = split
        self.num_classes = int(num_classes)
        self.class_names = class_names
        self.split_sizes = dict(split_sizes)
        self.image_shape = tuple(image_shape)
        self._image_key = image_key
        self._label_key = label_key
        self._labels: np.ndarray | None = None
        self._label_cache = None if label_cache is None else pathlib.Path(label_cache)

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, split={self.split!r}, n={len(self)}, "
            f"num_classes={self.num_classes}, image_shape={self.image_shape})"
        )

    def __len__(self) -> int:
        return len(self._source)

    @property
    def num_examples(self) -> int:
        return len(self)

    @property
    def varying_sizes(self) -> bool:
        """Whether the images' height and width vary (batches then need a model's preprocessing)."""
        return any(d is None for d in self.image_shape[:2])

    def _image(self, example: dict[str, Any]):
        return _images.decode(example[self._image_key], self.image_shape[-1])

    def __getitem__(self, index: int) -> dict[str, Any]:
        """``{"image": uint8 [H, W, C], "label": int}`` of example ``index``, the image at its own size."""
        n = len(self)
        index = int(index)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {self.name}[{self.split}] of size {n}")
        ex = self._source[index % n]
        return {"image": _images.to_array(self._image(ex)), "label": int(ex[self._label_key])}

    @property
    def labels(self) -> np.ndarray:
        """int32 ``[N]`` labels of the split.

        Read once, then kept in memory and in ``label_cache`` (a ``.npy`` beside the prepared data,
        written atomically; skipped when the data folder is read-only).
        """
        if self._labels is None and self._label_cache is not None and self._label_cache.is_file():
            cached = np.load(self._label_cache)
            if cached.shape == (len(self),):
                self._labels = cached.astype(np.int32)
        if self._labels is None:
            n = len(self)
            out = np.empty(n, np.int32)
            for start in tqdm.trange(
                0, n, _LABEL_CHUNK, desc=f"labels {self.name}[{self.split}]", disable=n <= 4 * _LABEL_CHUNK, leave=False
            ):
                idx = list(range(start, min(n, start + _LABEL_CHUNK)))
                out[start : start + len(idx)] = [int(ex[self._label_key]) for ex in self._source.__getitems__(idx)]
            self._labels = out
            if self._label_cache is not None:
                self._write_label_cache(out)
        return self._labels

    def _write_label_cache(self, labels: np.ndarray) -> None:
        path = self._label_cache
        try:
            with atomic_open(path) as handle:
                np.save(handle, labels)
        except OSError as e:  # read-only data folder: keep the labels in memory only
            log.info("not caching labels at %s: %s", path, e)

    def take(self, indices, *, preprocessing: pp.PreprocessingLike | None = None) -> dict[str, np.ndarray]:
        """The examples at ``indices`` as one batch of uint8 images, ready for the eval transform.

        Images of one size are returned as stored. Images of varying sizes are each resampled on the
        host to the square the eval transform of ``preprocessing`` crops from
        (:func:`preprocessing.square_for_crop`), so that they batch: the eval transform on the device
        then gives every image's eval crop, with one compiled program for the whole dataset.

        Args:
          indices: ``[B]`` ints in ``[0, len)``.
          preprocessing: the model's preprocessing; needed when the images vary in size.

        Returns:
          ``{"image": uint8 [B, H, W, C] ([B, R, R, C] for varying sizes, R = resize_size),
          "label": int32 [B], "index": int64 [B]}``.
        """
        idx = np.asarray(indices, np.int64).reshape(-1)
        n = len(self)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise ValueError(
                f"indices must be in [0, {n}) for {self.name}[{self.split}], got [{idx.min()}, {idx.max()}]"
            )
        if self.varying_sizes and preprocessing is None:
            raise ValueError(
                f"{self.name} has images of different sizes; pass the model's preprocessing "
                "to bring them to its input size"
            )
        examples = self._source.__getitems__(idx.tolist()) if idx.size else []
        labels = np.asarray([int(ex[self._label_key]) for ex in examples], np.int32)
        if self.varying_sizes:
            size = pp.as_preprocessing(preprocessing).resize_size
            shape = (size, size, self.image_shape[-1])
            imgs = [pp.square_for_crop(self._image(ex), preprocessing) for ex in examples]
        else:
            shape = self.image_shape
            imgs = [_images.to_array(self._image(ex)) for ex in examples]
            wrong = next((im.shape for im in imgs if im.shape != shape), None)
            if wrong is not None:
                raise ValueError(
                    f"{self.name}[{self.split}] declares images of shape {shape} but holds one of shape {wrong}"
                )
        images = np.stack(imgs) if imgs else np.zeros((0,) + shape, np.uint8)
        return {"image": images, "label": labels, "index": idx}

    def batches(
        self, batch_size: int, *, indices=None, preprocessing: pp.PreprocessingLike | None = None
    ) -> Iterator[dict[str, np.ndarray]]:
        """Numpy batches in order (for extraction); the last one is smaller, never dropped.

        Args:
          batch_size: examples per batch.
          indices: optional subset (e.g. a probe set) in the order to read; default all.
          preprocessing: the model's preprocessing (see :meth:`take`).

        Yields:
          ``{"image", "label", "index"}`` batches as in :meth:`take`.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        idx = np.arange(len(self)) if indices is None else np.asarray(indices, np.int64)
        for start in range(0, idx.size, batch_size):
            yield self.take(idx[start : start + batch_size], preprocessing=preprocessing)
