"""Training batches as a function of (seed, step) only, over a split or a subset of it.

Resuming after a crash needs the batch of step t to be the same whatever happened before t.
The order is the rule of :meth:`parc_jax.data.dataset.Dataset.stream_indices`: one permutation
of the M selected examples per epoch, epoch e drawn from ``numpy.random.default_rng([seed, e])``,
and batch t is positions ``[t B, (t + 1) B)`` of that endless sequence (no example dropped; a
batch may straddle two epochs). Over a whole ``Dataset`` split it gives the very batches of
``Dataset.train_batch``; over a subset (train minus validation) the positions index the subset.
The transform (augmentation) is a function of (images, step) with the seed bound in.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Protocol

import numpy as np

from parc_jax.data.dataset import stream_positions

Transform = Callable[[np.ndarray, int], Any]


class Split(Protocol):
    """What fine-tuning reads from a split (``parc_jax.data`` datasets and :class:`ArraySplit`)."""

    image_shape: tuple
    labels: np.ndarray

    def __len__(self) -> int: ...

    def take(self, indices, *, preprocessing=None) -> dict[str, np.ndarray]: ...


class ArraySplit:
    """An in-memory split of uint8 images and int labels with the :class:`Split` interface.

    Args:
      images: uint8 ``[N, H, W, C]``.
      labels: int ``[N]``.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        images, labels = np.asarray(images), np.asarray(labels)
        if images.ndim != 4 or images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 [N, H, W, C], got {images.dtype} {images.shape}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels; they must match")
        self.images = images
        self.labels = labels.astype(np.int32)
        self.image_shape = images.shape[1:]

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, indices, *, preprocessing=None) -> dict[str, np.ndarray]:
        """``{"image": uint8 [B, H, W, C], "label": int32 [B]}`` at ``indices``."""
        if preprocessing is not None:
            raise ValueError("ArraySplit images have one shape; preprocess on the device instead")
        idx = np.asarray(indices, np.int64)
        return {"image": self.images[idx], "label": self.labels[idx]}


def epoch_positions(step: int, batch_size: int, num_examples: int, seed: int) -> np.ndarray:
    """Positions in ``[0, M)`` of the examples of batch ``step`` (the module docstring's rule)."""
    if num_examples < 1:
        raise ValueError("the training split is empty; check the dataset and max_train_examples")
    return stream_positions(step, batch_size, num_examples, seed=seed)


class TrainStream:
    """Step-indexed shuffled batches of a split (or of ``indices`` into it).

    Args:
      split: the training split (:class:`Split`).
      batch_size: global batch size B.
      seed: order seed (also the augmentation seed, bound into ``transform``).
      indices: the examples to train on (default: all of the split).
      transform: ``transform(uint8 images, step) -> model input``; default: raw uint8 images
        (preprocessed on the device). Images of varying sizes need a transform.
    """

    def __init__(self, split: Split, batch_size: int, seed: int, *,
                 indices: np.ndarray | None = None, transform: Transform | None = None):
        self.split = split
        self.indices = np.arange(len(split)) if indices is None else np.asarray(indices, np.int64)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.indices)

    def batch_indices(self, step: int) -> np.ndarray:
        """Split indices of batch ``step``."""
        return self.indices[epoch_positions(step, self.batch_size, len(self.indices), self.seed)]

    def __call__(self, step: int) -> tuple[Any, np.ndarray]:
        """``(images, labels)`` of batch ``step``."""
        batch = self.split.take(self.batch_indices(step))
        images = batch["image"]
        if self.transform is not None:
            images = self.transform(images, step)
        return images, np.asarray(batch["label"], np.int32)


def eval_batches(split: Split, indices: np.ndarray, batch_size: int, *,
                 preprocessing=None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(images, labels)`` batches of ``split[indices]`` in order; the last one may be smaller.

    Images stay uint8 (preprocessed on the device) unless the split's images vary in size, in
    which case ``preprocessing`` (the model's) resizes them on the host.
    """
    varying = any(d is None for d in split.image_shape)
    for start in range(0, len(indices), batch_size):
        batch = split.take(indices[start:start + batch_size],
                           preprocessing=preprocessing if varying else None)
        yield batch["image"], np.asarray(batch["label"], np.int32)
