"""Mesh and device helpers for data-parallel code (feature extraction and fine-tuning).

Everything here follows JAX's current recommendation for data parallelism: a 1-D
:class:`jax.sharding.Mesh` over the devices, a :class:`jax.sharding.NamedSharding` that splits
the batch axis over it, replicated parameters, and :func:`jax.jit` (``shard_map`` where code
must see one device's block). ``jax.pmap`` callers use the same helpers: in JAX >= 0.8 ``pmap``
is ``jit`` of ``shard_map`` over a 1-D mesh, so parameters replicated with :func:`replicate`
on :func:`data_mesh` are passed to it (``in_axes=None``) without another copy.

Multi-process (``jax.distributed``) helpers keep each process on its *local* devices and
exchange rows only at the end (:func:`allgather_rows`), so processes never have to run the same
number of steps in lock-step: inference is embarrassingly parallel.

Typical use::

    mesh = parallel.data_mesh()                    # all local devices, axis "data"
    params = parallel.replicate(params, mesh)
    batch, mask = parallel.pad_rows(host_batch, parallel.round_up(len(host_batch), 8))
    x = parallel.shard_batch(batch, mesh)          # [B, ...] split over the devices
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

log = logging.getLogger(__name__)

DATA_AXIS = "data"

__all__ = [
    "DATA_AXIS",
    "allgather_rows",
    "batch_sharding",
    "data_mesh",
    "pad_rows",
    "process_slice",
    "replicate",
    "replicated_sharding",
    "resolve_devices",
    "round_up",
    "shard_batch",
]


def resolve_devices(devices: Sequence[jax.Device] | int | None = None) -> list[jax.Device]:
    """Validates a device selection and returns it as a list.

    Args:
      devices: ``None`` for all devices local to this process (``jax.local_devices()``), an int
        ``k`` for the first ``k`` local devices, or an explicit sequence of distinct devices,
        all addressable by this process and of one platform.

    Returns:
      The devices, in the given order.

    Raises:
      ValueError: empty selection, duplicates, more devices than exist, devices of another
        process, or mixed platforms.
    """
    local = jax.local_devices()
    if devices is None:
        return list(local)
    if isinstance(devices, (int, np.integer)):
        if not 1 <= int(devices) <= len(local):
            raise ValueError(
                f"devices={int(devices)} but this process has {len(local)} local devices; "
                f"pass a number between 1 and {len(local)}"
            )
        return list(local[: int(devices)])
    devices = list(devices)
    if not devices:
        raise ValueError("devices is empty; pass None to use all local devices")
    if len(set(devices)) != len(devices):
        raise ValueError(f"devices contains duplicates: {devices}; list each device once")
    foreign = [d for d in devices if d.process_index != jax.process_index()]
    if foreign:
        raise ValueError(
            f"devices {foreign} belong to another process; each process must pass only its own "
            "devices (jax.local_devices())"
        )
    platforms = {d.platform for d in devices}
    if len(platforms) > 1:
        raise ValueError(f"devices mix platforms {sorted(platforms)}; use devices of one kind")
    return devices


def data_mesh(devices: Sequence[jax.Device] | int | None = None, axis_name: str = DATA_AXIS) -> Mesh:
    """Builds a 1-D mesh over ``devices`` whose single axis carries the batch.

    Args:
      devices: see :func:`resolve_devices` (default: all local devices).
      axis_name: name of the mesh axis.

    Returns:
      A :class:`jax.sharding.Mesh` of shape ``(len(devices),)``.
    """
    return Mesh(np.asarray(resolve_devices(devices), dtype=object), (axis_name,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """The sharding that splits axis 0 (the batch) over the mesh's first axis."""
    return NamedSharding(mesh, PartitionSpec(mesh.axis_names[0]))


def replicated_sharding(mesh: Mesh) -> NamedSharding:
    """The sharding that keeps a full copy on every device of the mesh."""
    return NamedSharding(mesh, PartitionSpec())


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Copies every array leaf of ``tree`` onto every device of ``mesh`` (one transfer each)."""
    return jax.device_put(tree, replicated_sharding(mesh))


def shard_batch(batch: Any, mesh: Mesh) -> Any:
    """Splits every leaf of a host batch ``[B, ...]`` over the mesh along axis 0.

    Args:
      batch: pytree of arrays with a common leading size ``B``, a multiple of the mesh size
        (pad first with :func:`pad_rows`).
      mesh: a 1-D mesh of devices addressable by this process.

    Returns:
      The same pytree of :class:`jax.Array`, device ``i`` holding rows
      ``[i * B / n, (i + 1) * B / n)``.
    """
    n = mesh.devices.size
    for leaf in jax.tree.leaves(batch):
        if np.shape(leaf)[0] % n:
            raise ValueError(
                f"batch of {np.shape(leaf)[0]} rows does not split over {n} devices; "
                f"pad it to a multiple of {n} with pad_rows"
            )
    return jax.device_put(batch, batch_sharding(mesh))


def round_up(n: int, multiple: int) -> int:
    """Smallest multiple of ``multiple`` that is >= ``n``."""
    return -(-int(n) // int(multiple)) * int(multiple)


def pad_rows(batch: Any, size: int) -> tuple[Any, np.ndarray]:
    """Pads every leaf of a host batch with zero rows up to ``size`` rows.

    Padding keeps one compiled shape for a ragged last batch; the mask says which rows are
    real, so padded rows are dropped from every result (never the other way round).

    Args:
      batch: pytree of numpy arrays with a common leading size ``b <= size``.
      size: rows after padding.

    Returns:
      ``(padded, mask)`` with ``mask`` a bool array ``[size]``, True for the ``b`` real rows.
    """
    sizes = {np.shape(leaf)[0] for leaf in jax.tree.leaves(batch)}
    if len(sizes) != 1:
        raise ValueError(f"batch leaves have different numbers of rows {sorted(sizes)}")
    (b,) = sizes
    if b > size:
        raise ValueError(f"batch has {b} rows, more than the padded size {size}")

    def pad(x):
        x = np.asarray(x)
        if b == size:
            return x
        out = np.zeros((size,) + x.shape[1:], x.dtype)
        out[:b] = x
        return out

    mask = np.zeros(size, bool)
    mask[:b] = True
    return jax.tree.map(pad, batch), mask


def process_slice(n: int, process_index: int | None = None, process_count: int | None = None) -> slice:
    """The contiguous block of ``range(n)`` that process ``process_index`` reads.

    Blocks are as even as possible (sizes differ by at most one) and in process order, so
    concatenating every process's block in process order gives back ``range(n)``.
    """
    p = jax.process_index() if process_index is None else int(process_index)
    k = jax.process_count() if process_count is None else int(process_count)
    if not 0 <= p < k:
        raise ValueError(f"process_index {p} is outside [0, {k})")
    base, extra = divmod(int(n), k)
    start = p * base + min(p, extra)
    return slice(start, start + base + (p < extra))


def allgather_rows(tree: Any) -> Any:
    """Concatenates, in process order, every process's rows of a pytree of host arrays.

    Under ``jax.distributed`` each process may hold a different number of rows; the counts
    are exchanged first, every process pads its rows to the largest count, the padded blocks
    are all-gathered (:func:`jax.experimental.multihost_utils.process_allgather`) and the
    padding is cut off again. In a single process this returns the input as numpy arrays.

    Integer leaves travel as int32 and float leaves as float32 unless JAX's x64 mode is on;
    leaves come back in their original dtype.

    Args:
      tree: pytree of numpy arrays with a common leading size on this process.

    Returns:
      The pytree of the concatenated numpy arrays, identical on every process.
    """
    tree = jax.tree.map(np.asarray, tree)
    if jax.process_count() == 1:
        return tree
    sizes = {leaf.shape[0] for leaf in jax.tree.leaves(tree)}
    if len(sizes) != 1:
        raise ValueError(f"leaves have different numbers of rows {sorted(sizes)}")
    (rows,) = sizes
    counts = np.asarray(multihost_utils.process_allgather(np.int32(rows))).reshape(-1)
    largest = int(counts.max())
    padded, _ = pad_rows(tree, largest)
    dtypes = jax.tree.map(lambda x: x.dtype, tree)
    gathered = multihost_utils.process_allgather(padded)  # leaves [P, largest, ...]
    log.debug("allgather_rows: gathered %s rows from %d processes", counts.tolist(), len(counts))
    return jax.tree.map(
        lambda g, dt: np.concatenate([np.asarray(g)[p, : counts[p]] for p in range(len(counts))]).astype(
            dt, copy=False
        ),
        gathered,
        dtypes,
    )
