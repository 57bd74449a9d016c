"""Host-side input for extraction: arrays or an iterator of batches, cut into fixed-size batches.

Each process of a ``jax.distributed`` run reads only its own part of the input:

* arrays: the contiguous block :func:`parc_jax.parallel.process_slice` of the rows;
* an iterator of batches: every ``process_count``-th batch, starting at ``process_index``
  (round-robin), unless the caller says the iterator is already this process's shard.

Every row carries its position in the whole input, so results gathered from all processes can
be put back into input order.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import jax
import numpy as np

from parc_jax import parallel

log = logging.getLogger(__name__)

IMAGE_KEY = "image"
LABEL_KEY = "label"


class HostBatches:
    """Iterates ``(images, labels | None, positions)`` host batches of at most ``batch_size``.

    Every batch but the last has exactly ``batch_size`` rows. ``positions`` are the rows'
    indices in the whole input (all processes together) when ``input_sharded`` is False, and
    indices in this process's input otherwise.

    Args:
      data: images as an array ``[N, H, W, C]``, a mapping with ``"image"`` (and optionally
        ``"label"``) arrays, or an iterable of such mappings holding numpy batches of any size.
      labels: ``[N]`` or ``[N, C]`` labels for array input (not with a mapping or iterable).
      batch_size: rows per batch.
      input_sharded: the input is already this process's shard: read all of it.
    """

    def __init__(self, data: Any, labels: Any, batch_size: int, *, input_sharded: bool = False):
        self.batch_size = int(batch_size)
        self.input_sharded = bool(input_sharded)
        if isinstance(data, Mapping):
            if labels is not None:
                raise ValueError("labels were given twice: in the mapping and as labels=; pass one")
            if IMAGE_KEY not in data:
                raise ValueError(
                    f"input mapping has keys {sorted(data)} but no {IMAGE_KEY!r}; "
                    f"pass {{'image': [N,H,W,C], 'label': [N]}}"
                )
            labels = data.get(LABEL_KEY)
            data = data[IMAGE_KEY]
        if hasattr(data, "shape") and hasattr(data, "dtype"):
            self._init_arrays(data, labels)
        elif isinstance(data, Iterable) and not isinstance(data, (str, bytes)):
            if labels is not None:
                raise ValueError("labels= is for array input; an iterator of batches carries its labels under 'label'")
            self._arrays = None
            self._iterable = data
            self.total = None
        else:
            raise ValueError(
                f"cannot extract from {type(data).__name__}; pass an image array [N,H,W,C], a "
                "mapping {'image', 'label'} or an iterator of such numpy batches"
            )

    def _init_arrays(self, images, labels):
        if np.ndim(images) < 2:
            raise ValueError(f"images must be an array [N, ...] of N images, got shape {np.shape(images)}")
        n = np.shape(images)[0]
        if labels is not None and np.shape(labels)[:1] != (n,):
            raise ValueError(
                f"labels have shape {np.shape(labels)} but there are {n} images; pass one label "
                "(or one multi-hot row) per image"
            )
        if self.input_sharded:
            block = slice(0, n)
        else:
            block = parallel.process_slice(n)
        self._arrays = (images, labels, block)
        self._iterable = None
        self.total = block.stop - block.start

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray | None, np.ndarray]]:
        if self._arrays is not None:
            yield from self._iter_arrays()
        else:
            yield from self._iter_batches()

    def _iter_arrays(self):
        images, labels, block = self._arrays
        for start in range(block.start, block.stop, self.batch_size):
            stop = min(start + self.batch_size, block.stop)
            lab = None if labels is None else np.asarray(labels[start:stop])
            pos = np.arange(start, stop, dtype=np.int64)
            yield _as_images(images[start:stop]), lab, pos

    def _iter_batches(self):
        p, k = (0, 1) if self.input_sharded else (jax.process_index(), jax.process_count())
        buffer = _RowBuffer()
        seen = 0  # rows of the whole input before the current batch
        has_labels = None
        for i, batch in enumerate(self._iterable):
            if not isinstance(batch, Mapping) or IMAGE_KEY not in batch:
                keys = sorted(batch) if isinstance(batch, Mapping) else type(batch).__name__
                raise ValueError(
                    f"input batch {i} is {keys}, not a mapping with {IMAGE_KEY!r}; yield "
                    "{'image': [B,H,W,C], 'label': [B]} numpy batches"
                )
            images = _as_images(batch[IMAGE_KEY])
            b = len(images)
            label = batch.get(LABEL_KEY)
            if has_labels is None:
                has_labels = label is not None
            elif has_labels != (label is not None):
                raise ValueError(
                    f"input batch {i} {'has' if label is not None else 'lacks'} a 'label' unlike "
                    "the first batch; give labels in every batch or in none"
                )
            if label is not None and np.shape(label)[:1] != (b,):
                raise ValueError(f"input batch {i} has {b} images but labels of shape {np.shape(label)}")
            if i % k == p and b:
                buffer.add(
                    images, None if label is None else np.asarray(label), np.arange(seen, seen + b, dtype=np.int64)
                )
            seen += b
            while buffer.rows >= self.batch_size:
                yield buffer.take(self.batch_size)
        if buffer.rows:
            yield buffer.take(buffer.rows)


class _RowBuffer:
    """FIFO of (images, labels | None, positions) rows, taken out in fixed-size batches."""

    def __init__(self):
        self._parts: list[tuple[np.ndarray, np.ndarray | None, np.ndarray]] = []
        self.rows = 0

    def add(self, images, labels, positions):
        self._parts.append((images, labels, positions))
        self.rows += len(images)

    def take(self, size: int):
        """Removes and returns the first ``size`` rows."""
        columns = list(zip(*self._parts))
        out, rest = [], []
        for col in columns:
            if col[0] is None:
                out.append(None)
                rest.append(None)
                continue
            joined = np.concatenate(col) if len(col) > 1 else col[0]
            out.append(joined[:size])
            rest.append(joined[size:])
        self._parts = [tuple(rest)] if len(rest[0]) else []
        self.rows -= size
        return tuple(out)


def _as_images(x) -> np.ndarray:
    """Host numpy images; float64 becomes float32 (what JAX would make of it anyway)."""
    x = np.asarray(x)
    if x.dtype == np.float64:
        x = x.astype(np.float32)
    return x
