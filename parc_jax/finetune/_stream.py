"""Training batches as a function of (seed, step) only, over a split or a subset of it.

Resuming after a crash needs the batch of step t to be the same whatever happened before t.
The order: one permutation of the M selected examples per epoch, epoch e drawn from
``numpy.random.default_rng([seed, e])``, and batch t is positions ``[t B, (t + 1) B)`` of that
endless sequence (no example dropped; a batch may straddle two epochs); over a subset (train minus
validation) the positions index the subset. The transform (augmentation) is a function of
(images, step) with the seed bound in. This is the one training stream of parc_jax.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol

import numpy as np

Transform = Callable[[np.ndarray, int], Any]


class Split(Protocol):
    """What fine-tuning reads from a split (``parc_jax.data`` datasets and :class:`ArraySplit`)."""

    image_shape: tuple
    labels: np.ndarray

    def __len__(self) -> int: ...

    def take(self, indices, *, preprocessing=None) -> dict[str, np.ndarray]:
        """uint8 images (of one shape, given the model's ``preprocessing``) and int labels."""


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
        """``{"image": uint8 [B, H, W, C], "label": int32 [B]}`` at ``indices`` (one image shape: the
        model's ``preprocessing`` is not needed)."""
        del preprocessing
        idx = np.asarray(indices, np.int64)
        return {"image": self.images[idx], "label": self.labels[idx]}


def epoch_positions(step: int, batch_size: int, num_examples: int, seed: int) -> np.ndarray:
    """Positions in ``[0, M)`` of the examples of batch ``step`` (the module docstring's rule)."""
    if num_examples < 1:
        raise ValueError("the training split is empty; check the dataset and max_train_examples")
    pos = np.arange(step * batch_size, (step + 1) * batch_size, dtype=np.int64)
    epochs, offsets = np.divmod(pos, num_examples)
    out = np.empty(batch_size, np.int64)
    for e in np.unique(epochs):
        sel = epochs == e
        out[sel] = np.random.default_rng([int(seed), int(e)]).permutation(num_examples)[offsets[sel]]
    return out


class TrainStream:
    """Step-indexed shuffled batches of a split (or of ``indices`` into it).

    Args:
      split: the training split (:class:`Split`).
      batch_size: global batch size B.
      seed: order seed (also the augmentation seed, bound into ``transform``).
      indices: the examples to train on (default: all of the split).
      transform: ``transform(uint8 images, step) -> model input``; default: the uint8 images
        (preprocessed on the device).
      preprocessing: the model's preprocessing, which brings images of varying sizes to one shape
        (``Split.take``).
    """

    def __init__(
        self,
        split: Split,
        batch_size: int,
        seed: int,
        *,
        indices: np.ndarray | None = None,
        transform: Transform | None = None,
        preprocessing=None,
    ):
        self.split = split
        self.preprocessing = preprocessing
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
        batch = self.split.take(self.batch_indices(step), preprocessing=self.preprocessing)
        images = batch["image"]
        if self.transform is not None:
            images = self.transform(images, step)
        return images, np.asarray(batch["label"], np.int32)


def eval_batches(
    split: Split, indices: np.ndarray, batch_size: int, *, preprocessing=None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(images, labels)`` batches of ``split[indices]`` in order; the last one may be smaller.

    Images are uint8, of one shape given the model's ``preprocessing`` (``Split.take``), and go
    through the eval transform on the device.
    """
    for start in range(0, len(indices), batch_size):
        batch = split.take(indices[start : start + batch_size], preprocessing=preprocessing)
        yield batch["image"], np.asarray(batch["label"], np.int32)
