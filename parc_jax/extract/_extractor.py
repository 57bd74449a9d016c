"""Data-parallel feature extraction: a model over a probe set -> features and probabilities.

Two strategies, same numbers:

* ``"mesh"`` (JAX's recommendation): ``jax.jit`` with the batch split over a 1-D
  :class:`~jax.sharding.Mesh` by a :class:`~jax.sharding.NamedSharding` and replicated
  variables; XLA partitions the program (no cross-device communication is needed).
* ``"pmap"`` (what PARC-era code and the design card use): ``jax.pmap`` over a leading device
  axis ``[n_devices, per_device_batch, ...]``; the variables are passed unmapped
  (``in_axes=None``) and, already replicated on the same devices, are not copied again.

Every step sees one global batch of ``n_devices * per_device_batch`` rows: the last batch is
padded with zero rows and the padded rows are masked out of the results, so no example is
dropped and the step compiles once. Host batches are transferred and dispatched
asynchronously; results are fetched a few steps behind, so transfer, compute and host work
overlap.

Under ``jax.distributed`` each process computes on its own local devices, over its own share
of the input (see :mod:`parc_jax.extract._source`), and the rows of all processes are gathered
to every process at the end (:func:`parc_jax.parallel.allgather_rows`), in input order.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from parc_jax import parallel
from parc_jax.extract._probe_set import ProbeSet
from parc_jax.extract._source import HostBatches

log = logging.getLogger(__name__)

ApplyFn = Callable[[Any, jax.Array], tuple[jax.Array, dict[str, jax.Array]]]
Strategy = Literal["mesh", "pmap"]
STRATEGIES = ("mesh", "pmap")
COMPUTE_DTYPES = (jnp.dtype(jnp.float32), jnp.dtype(jnp.bfloat16))

# Steps dispatched ahead of the one whose results are fetched.
_IN_FLIGHT = 2


def compute_dtype(dtype: Any) -> jnp.dtype:
    """Normalises a compute dtype (``"float32"``, ``"bfloat16"``, ``jnp.bfloat16``, ...)."""
    try:
        dt = jnp.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in COMPUTE_DTYPES:
        raise ValueError(f"dtype {dtype!r} is not supported for extraction; use 'float32' or 'bfloat16'")
    return dt


def _cast_floating(tree: Any, dtype: jnp.dtype) -> Any:
    """Casts the floating-point leaves of ``tree`` to ``dtype``; other leaves pass through."""

    def cast(x):
        if not hasattr(x, "dtype"):
            x = np.asarray(x)
        return x.astype(dtype) if jnp.issubdtype(x.dtype, jnp.floating) else x

    return jax.tree.map(cast, tree)


def _forward(apply_fn, preprocess, dtype, precision, variables, images):
    """One device batch: images -> (features [B, D] f32, softmax(logits) [B, Z] f32)."""
    ctx = jax.default_matmul_precision(precision) if precision else contextlib.nullcontext()
    with ctx:
        x = images if preprocess is None else preprocess(images)
        if jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(dtype)
        logits, out = apply_fn(variables, x)
    if not isinstance(out, dict) or "features" not in out:
        raise ValueError(
            f"apply_fn must return (logits, out) with out['features'] [B, D]; got out of type {type(out).__name__}"
        )
    features = out["features"]
    if features.ndim != 2 or logits.ndim != 2:
        raise ValueError(
            f"apply_fn returned features {features.shape} and logits {logits.shape}; both must "
            "be [B, D] / [B, Z] (pool or flatten the features inside the model)"
        )
    logits = logits.astype(jnp.float32)
    return features.astype(jnp.float32), jax.nn.softmax(logits, axis=-1)


class Extractor:
    """A model compiled for data-parallel extraction; call it on arrays or batches.

    Build once and call many times to reuse the compiled step (``extract`` builds one per
    call). See :func:`extract` for the arguments.

    Attributes:
      devices: the devices the batch is split over.
      per_device_batch: rows each device computes per step.
      global_batch: rows per step, ``len(devices) * per_device_batch``.
    """

    def __init__(
        self,
        apply_fn: ApplyFn,
        variables: Any,
        *,
        batch_size: int = 256,
        strategy: Strategy = "mesh",
        devices: Any = None,
        dtype: Any = jnp.float32,
        preprocess: Callable[[jax.Array], jax.Array] | None = None,
        matmul_precision: str | None = None,
    ):
        if not callable(apply_fn):
            raise ValueError(f"apply_fn must be callable, got {type(apply_fn).__name__}")
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy {strategy!r} is unknown; use one of {STRATEGIES}")
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.dtype = compute_dtype(dtype)
        if matmul_precision is None:
            # float32 numbers feed the estimators: no TF32 / bf16 passes behind the user's back.
            matmul_precision = "highest" if self.dtype == jnp.float32 else None
        self.strategy = strategy
        self.devices = parallel.resolve_devices(devices)
        n = len(self.devices)
        self.per_device_batch = -(-int(batch_size) // n)
        self.global_batch = self.per_device_batch * n
        if self.global_batch != int(batch_size):
            log.info(
                "batch_size %d rounded up to %d (%d per device x %d devices)",
                batch_size,
                self.global_batch,
                self.per_device_batch,
                n,
            )
        self.mesh = parallel.data_mesh(self.devices)
        self.variables = parallel.replicate(_cast_floating(variables, self.dtype), self.mesh)
        forward = functools.partial(_forward, apply_fn, preprocess, self.dtype, matmul_precision)
        batch = parallel.batch_sharding(self.mesh)
        if strategy == "mesh":
            self._step = jax.jit(
                forward,
                in_shardings=(parallel.replicated_sharding(self.mesh), batch),
                out_shardings=(batch, batch),
            )
        else:
            self._step = jax.pmap(
                forward,
                axis_name=self.mesh.axis_names[0],
                in_axes=(None, 0),
                devices=self.devices,
            )
        # Host batch [G, ...] -> device layout. For pmap the leading axis is the device axis,
        # split the same way, so pmap finds its input already in place.
        self._in_sharding = batch

    def put(self, images: np.ndarray) -> jax.Array:
        """Transfers one padded host batch ``[global_batch, ...]`` to the devices."""
        if self.strategy == "pmap":
            images = images.reshape((len(self.devices), self.per_device_batch) + images.shape[1:])
        return jax.device_put(images, self._in_sharding)

    def step(self, device_images: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Dispatches the compiled step on a batch from :meth:`put` (asynchronously).

        Returns:
          Device arrays ``(features, probs)``: ``[G, D]`` and ``[G, Z]`` for ``"mesh"``,
          ``[n_devices, G / n_devices, ...]`` for ``"pmap"``; :meth:`to_host` flattens both.
        """
        return self._step(self.variables, device_images)

    def to_host(self, x: jax.Array) -> np.ndarray:
        """Copies a step output to the host as ``[global_batch, ...]`` (waits for it)."""
        x = np.asarray(x)
        return x.reshape((self.global_batch,) + x.shape[2:]) if self.strategy == "pmap" else x

    def __call__(
        self,
        data: Any,
        labels: Any = None,
        *,
        progress: bool = True,
        input_sharded: bool = False,
    ) -> ProbeSet:
        """Extracts features and probabilities of every image in ``data``.

        Args:
          data: see :func:`extract`.
          labels: see :func:`extract`.
          progress: show a tqdm bar (images/s) on process 0.
          input_sharded: see :func:`extract`.

        Returns:
          The :class:`ProbeSet`, identical on every process.
        """
        source = HostBatches(data, labels, self.global_batch, input_sharded=input_sharded)
        features, probs, label_parts, positions = [], [], [], []
        pending: collections.deque = collections.deque()
        bar = tqdm(
            total=source.total,
            unit="img",
            unit_scale=True,
            desc=f"extract[{self.strategy} x{len(self.devices)} {self.dtype.name}]",
            disable=not progress or jax.process_index() != 0,
            leave=False,
        )
        start = time.perf_counter()

        def fetch(keep: int):
            while len(pending) > keep:
                f, p, mask = pending.popleft()
                features.append(self.to_host(f)[mask])
                probs.append(self.to_host(p)[mask])
                bar.update(int(mask.sum()))

        with bar:
            for images, label, position in source:
                padded, mask = parallel.pad_rows(images, self.global_batch)
                f, p = self.step(self.put(padded))
                pending.append((f, p, mask))
                if label is not None:
                    label_parts.append(label)
                positions.append(position)
                fetch(_IN_FLIGHT)
            fetch(0)
        rows = sum(len(x) for x in features)
        elapsed = time.perf_counter() - start
        log.info(
            "extracted %d images on %d devices in %.2fs (%.0f img/s)",
            rows,
            len(self.devices),
            elapsed,
            rows / max(elapsed, 1e-9),
        )
        return self._collect(features, probs, label_parts, positions, rows, input_sharded)

    def _collect(self, features, probs, label_parts, positions, rows, input_sharded) -> ProbeSet:
        multi = jax.process_count() > 1
        if rows == 0:
            where = f"process {jax.process_index()} received" if multi else "the input holds"
            raise ValueError(f"{where} no images; give every process at least one image")
        local = {
            "features": np.concatenate(features),
            "probs": np.concatenate(probs),
            "position": np.concatenate(positions),
        }
        if label_parts:
            local["labels"] = np.concatenate(label_parts)
        if multi:
            local = parallel.allgather_rows(local)
            if not input_sharded:
                order = np.argsort(local["position"], kind="stable")
                local = {k: v[order] for k, v in local.items()}
        return ProbeSet(features=local["features"], probs=local["probs"], labels=local.get("labels"))


def extract(
    apply_fn: ApplyFn,
    variables: Any,
    data: Any,
    *,
    labels: Any = None,
    batch_size: int = 256,
    strategy: Strategy = "mesh",
    devices: Any = None,
    dtype: Any = jnp.float32,
    preprocess: Callable[[jax.Array], jax.Array] | None = None,
    progress: bool = True,
    input_sharded: bool = False,
    matmul_precision: str | None = None,
) -> ProbeSet:
    """Runs a model over a probe set, data-parallel over all local devices.

    For every image ``x``: ``features = out["features"]`` and
    ``probs = softmax(logits)`` where ``logits, out = apply_fn(variables, preprocess(x))``.
    These are the inputs of the transferability estimators (PARC, LogME, ... read features;
    LEEP, NCE read the source-class probabilities; Bolya et al., NeurIPS 2021).

    Args:
      apply_fn: ``apply_fn(variables, images) -> (logits [B, Z], out)`` with
        ``out["features"]`` ``[B, D]``; jittable, in inference mode (e.g.
        ``lambda v, x: model.apply(v, x, train=False)``).
      variables: the model's variables (params, batch statistics, ...), host or device arrays.
      data: images ``[N, H, W, C]`` (any dtype; uint8 is cheapest to transfer), a mapping
        ``{"image": [N,...], "label": [N]}``, or an iterable of such numpy batches of any size.
      labels: ``[N]`` (or multi-hot ``[N, C]``) labels for array input; returned unchanged.
      batch_size: images per step over all devices; rounded up to a multiple of the device
        count. The last batch is padded and its padding masked out: every image is returned.
      strategy: ``"mesh"`` (jit + NamedSharding over a 1-D mesh) or ``"pmap"``.
      devices: devices to use (default all local devices; an int takes the first k).
      dtype: compute dtype, ``float32`` or ``bfloat16``. With bfloat16 the floating variables
        and the (preprocessed) inputs are cast; features and probabilities come back float32.
      preprocess: jittable ``images -> model input``, run on the devices inside the step
        (e.g. a zoo model's ``preprocess``: uint8 resize + normalise).
      progress: show a tqdm bar with images/s (process 0 only).
      input_sharded: under ``jax.distributed``, True when ``data`` already holds only this
        process's share (results are then concatenated in process order); by default every
        process is given the whole input and reads its own block of rows (arrays) or every
        ``process_count``-th batch (iterables), and results come back in input order.
      matmul_precision: precision of matmuls and convolutions; default ``"highest"`` for
        float32 (no TF32 on GPU, no bf16 passes on TPU) and the backend default for bfloat16.

    Returns:
      A :class:`ProbeSet` with ``features [N, D]`` and ``probs [N, Z]`` float32 and the labels
      (None without labels), in input order, the same on every process.

    Raises:
      ValueError: unknown strategy or dtype, bad devices, malformed input, a model that does
        not return ``(logits, {"features": [B, D]})``.
    """
    extractor = Extractor(
        apply_fn,
        variables,
        batch_size=batch_size,
        strategy=strategy,
        devices=devices,
        dtype=dtype,
        preprocess=preprocess,
        matmul_precision=matmul_precision,
    )
    return extractor(data, labels, progress=progress, input_sharded=input_sharded)
