"""One split of a prepared dataset: random access, numpy batches, a resumable training stream."""

from __future__ import annotations

import logging
import os
import pathlib
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import tqdm

from parc_jax.data import augment as aug_lib
from parc_jax.data import preprocessing as pp
from parc_jax._io import atomic_open

log = logging.getLogger(__name__)

_LABEL_CHUNK = 4096



def stream_positions(step: int, batch_size: int, num_examples: int, *, seed: int) -> np.ndarray:
    """Positions in ``[0, num_examples)`` of training batch ``step`` of the endless shuffled stream.

    The stream concatenates one permutation per epoch, epoch ``e`` drawn from
    ``numpy.random.default_rng([seed, e])``; batch ``t`` is positions ``[tB, (t+1)B)`` of it (a batch may
    straddle two epochs; no example is dropped). Shared by :meth:`Dataset.stream_indices` and the
    fine-tuning stream, so that both see the same order.
    """
    pos = np.arange(step * batch_size, (step + 1) * batch_size, dtype=np.int64)
    epochs, offsets = np.divmod(pos, num_examples)
    out = np.empty(batch_size, np.int64)
    for e in np.unique(epochs):
        sel = epochs == e
        out[sel] = np.random.default_rng([int(seed), int(e)]).permutation(num_examples)[offsets[sel]]
    return out

class Dataset:
    """A split of an array_record TFDS dataset read through ``builder.as_data_source()``.

    Attributes:
      name: dataset name (``"fashion_mnist_deb"``, a TFDS name, or an image folder's config).
      split: split name.
      num_classes: number of classes.
      class_names: class names (``None`` when the label is not a ``ClassLabel``).
      split_sizes: ``{split: number of examples}`` for every split of the dataset.
      image_shape: ``(H, W, C)`` of the stored images (``None`` entries when they vary).
    """

    def __init__(self, source: Sequence[dict[str, Any]], *, name: str, split: str,
                 num_classes: int, class_names: list[str] | None,
                 split_sizes: dict[str, int], image_shape: tuple, image_key: str = "image",
                 label_key: str = "label", label_cache: str | os.PathLike | None = None):
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
        return (f"Dataset({self.name!r}, split={self.split!r}, n={len(self)}, "
                f"num_classes={self.num_classes}, image_shape={self.image_shape})")

    def __len__(self) -> int:
        return len(self._source)

    @property
    def num_examples(self) -> int:
        return len(self)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """``{"image": uint8 [H, W, C], "label": int}`` of example ``index``."""
        n = len(self)
        index = int(index)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {self.name}[{self.split}] of size {n}")
        ex = self._source[index % n]
        return {"image": np.asarray(ex[self._image_key], np.uint8),
                "label": int(ex[self._label_key])}

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
            for start in tqdm.trange(0, n, _LABEL_CHUNK, desc=f"labels {self.name}[{self.split}]",
                                     disable=n <= 4 * _LABEL_CHUNK, leave=False):
                idx = list(range(start, min(n, start + _LABEL_CHUNK)))
                out[start:start + len(idx)] = [int(ex[self._label_key])
                                               for ex in self._source.__getitems__(idx)]
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

    def take(self, indices, *, preprocessing: pp.PreprocessingLike | None = None
             ) -> dict[str, np.ndarray]:
        """The examples at ``indices`` as one batch.

        Args:
          indices: ``[B]`` ints in ``[0, len)``.
          preprocessing: if given, images go through :func:`preprocessing.eval_transform`.

        Returns:
          ``{"image": uint8 [B, H, W, C] (float32 [B, S, S, 3] with preprocessing), "label": int32
          [B], "index": int64 [B]}``.
        """
        idx = np.asarray(indices, np.int64).reshape(-1)
        n = len(self)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise ValueError(f"indices must be in [0, {n}) for {self.name}[{self.split}], got "
                             f"[{idx.min()}, {idx.max()}]")
        examples = self._source.__getitems__(idx.tolist()) if idx.size else []
        imgs = [np.asarray(ex[self._image_key], np.uint8) for ex in examples]
        labels = np.asarray([int(ex[self._label_key]) for ex in examples], np.int32)
        if imgs and any(im.shape != imgs[0].shape for im in imgs):
            if preprocessing is None:
                raise ValueError(f"{self.name} has images of different sizes; pass preprocessing= to "
                                 "resize them to the model's input")
            images = np.concatenate([np.asarray(pp.eval_transform(im[None], preprocessing))
                                     for im in imgs])
        else:
            images = (np.stack(imgs) if imgs else np.zeros((0,) + self.image_shape, np.uint8))
            if preprocessing is not None:
                images = np.asarray(pp.eval_transform(images, preprocessing))
        return {"image": images, "label": labels, "index": idx}

    def batches(self, batch_size: int, *, indices=None,
                preprocessing: pp.PreprocessingLike | None = None
                ) -> Iterator[dict[str, np.ndarray]]:
        """Numpy batches in order (for extraction); the last one is smaller, never dropped.

        Args:
          batch_size: examples per batch.
          indices: optional subset (e.g. a probe set) in the order to read; default all.
          preprocessing: optional eval transform (see :meth:`take`).

        Yields:
          ``{"image", "label", "index"}`` batches as in :meth:`take`.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        idx = np.arange(len(self)) if indices is None else np.asarray(indices, np.int64)
        for start in range(0, idx.size, batch_size):
            yield self.take(idx[start:start + batch_size], preprocessing=preprocessing)

    def stream_indices(self, step: int, batch_size: int, *, seed: int) -> np.ndarray:
        """Indices of training batch ``step``: a function of ``(seed, step)`` only.

        The stream concatenates one permutation of the split per epoch, epoch ``e`` drawn from
        ``numpy.random.default_rng([seed, e])``; batch ``t`` is positions ``[tB, (t+1)B)`` of that
        endless sequence (a batch may straddle two epochs; no example is dropped).
        """
        if len(self) == 0:
            raise ValueError(f"{self.name}[{self.split}] is empty; nothing to train on")
        return stream_positions(step, batch_size, len(self), seed=seed)

    def train_batch(self, step: int, batch_size: int, *, seed: int,
                    preprocessing: pp.PreprocessingLike | None = None, augment: bool = True,
                    scale: tuple[float, float] = (0.08, 1.0),
                    ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> dict[str, np.ndarray]:
        """Training batch ``step`` (see :meth:`train_batches`), computed directly."""
        batch = self.take(self.stream_indices(step, batch_size, seed=seed))
        if augment:
            if preprocessing is None:
                raise ValueError("augment=True needs preprocessing= (input_size, mean, std)")
            batch["image"] = np.asarray(aug_lib.train_transform(
                batch["image"], preprocessing, seed=seed, step=step, scale=scale, ratio=ratio))
        elif preprocessing is not None:
            batch["image"] = np.asarray(pp.eval_transform(batch["image"], preprocessing))
        return batch

    def train_batches(self, batch_size: int, *, seed: int, start_step: int = 0,
                      num_steps: int | None = None,
                      preprocessing: pp.PreprocessingLike | None = None, augment: bool = True,
                      scale: tuple[float, float] = (0.08, 1.0),
                      ratio: tuple[float, float] = (3 / 4, 4 / 3)
                      ) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        """Shuffled, repeated, augmented training stream; resumable at any step.

        Batch ``t`` depends only on ``(seed, t)`` (order: :meth:`stream_indices`; augmentation:
        :func:`augment.train_transform` with ``(seed, t)``), so a run resumed with
        ``start_step=t`` sees exactly the batches it would have seen.

        Args:
          batch_size: examples per batch (every batch is full).
          seed: run seed.
          start_step: first step to yield.
          num_steps: stop after this many batches (default: endless).
          preprocessing: model preprocessing (``input_size``, ``resize_size``, ``mean``, ``std``).
          augment: random resized crop + flip (needs ``preprocessing``); if False, the eval
            transform is applied when ``preprocessing`` is given, else raw uint8 images.
          scale, ratio: RandomResizedCrop ranges.

        Yields:
          ``(step, {"image", "label", "index"})``.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if augment and preprocessing is None:
            raise ValueError("augment=True needs preprocessing= (input_size, mean, std)")
        step = int(start_step)
        end = None if num_steps is None else step + int(num_steps)
        while end is None or step < end:
            yield step, self.train_batch(step, batch_size, seed=seed, preprocessing=preprocessing,
                                         augment=augment, scale=scale, ratio=ratio)
            step += 1
