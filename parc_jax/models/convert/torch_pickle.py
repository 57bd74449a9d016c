"""Read PyTorch ``torch.save`` state dicts without PyTorch.

Two on-disk formats exist:

* **zip** (default since PyTorch 1.6): a zip archive ``<root>/data.pkl`` (the pickled object, with
  tensors replaced by persistent ids), ``<root>/data/<key>`` (one raw little-endian storage per
  key) and ``<root>/byteorder`` (optional).
* **legacy** (``_use_new_zipfile_serialization=False`` and every file written before 1.6): five
  consecutive pickles and then raw bytes -- the magic number ``0x1950a86a20f9469cfc6c``, the
  protocol version (1001), a sys-info dict (endianness, type sizes), the pickled object, the list
  of storage keys; then for every key in that order an int64 element count followed by the
  storage's bytes.

In both, a tensor is pickled as ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
requires_grad, hooks)`` where ``storage`` is a persistent id ``('storage', StorageType, key,
location, numel[, view_metadata])``. This module rebuilds each tensor as a NumPy array with
``numpy.lib.stride_tricks.as_strided`` over its storage (strides may be non-contiguous, e.g. the
EfficientNet-Lite checkpoints store conv weights channels-last).

The unpickler is *restricted*: it resolves only the handful of globals a state dict needs
(``collections.OrderedDict``, the tensor/parameter rebuild functions, storage types). Anything else
-- a whole pickled ``nn.Module``, arbitrary callables -- raises ``ValueError`` instead of running
code, so reading an untrusted checkpoint cannot execute it.
"""

from __future__ import annotations

import collections
import io
import logging
import os
import pickle
import struct
import zipfile
from collections.abc import Callable
from typing import Any, BinaryIO

import ml_dtypes
import numpy as np

logger = logging.getLogger(__name__)

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

_STORAGE_DTYPES: dict[str, np.dtype] = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "BFloat16Storage": np.dtype(ml_dtypes.bfloat16),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class _StorageType:
    """Stands in for ``torch.FloatStorage`` etc.: only its dtype matters."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]


class _Storage:
    """A flat typed buffer (one entry of the checkpoint's storage table)."""

    def __init__(self, data: np.ndarray):
        self.data = data


class _LazyTensor:
    """A tensor whose storage may not be filled yet (legacy format); see ``_materialize``."""

    def __init__(self, storage: _Storage, offset: int, size: tuple, stride: tuple):
        self.storage, self.offset = storage, int(offset)
        self.size = tuple(int(s) for s in size)
        self.stride = tuple(int(s) for s in stride)

    def to_numpy(self) -> np.ndarray:
        data = self.storage.data
        if any(n == 0 for n in self.size):
            return np.zeros(self.size, data.dtype)
        extent = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride)) + 1
        if extent > data.shape[0]:
            raise ValueError(
                f"corrupt checkpoint: a tensor of size {self.size} and stride {self.stride} at "
                f"offset {self.offset} overruns its storage of {data.shape[0]} elements"
            )
        view = np.lib.stride_tricks.as_strided(
            data[self.offset :],
            shape=self.size,
            strides=tuple(s * data.itemsize for s in self.stride),
            writeable=False,
        )
        return np.array(view)  # a contiguous copy that owns its memory


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    del requires_grad, backward_hooks, metadata
    return _LazyTensor(storage, storage_offset, size, stride)


def _materialize(obj: Any) -> Any:
    """Replaces every ``_LazyTensor`` in nested containers by a NumPy array."""
    if isinstance(obj, _LazyTensor):
        return obj.to_numpy()
    if isinstance(obj, dict):
        out = type(obj)() if isinstance(obj, collections.OrderedDict) else {}
        for k, v in obj.items():
            out[k] = _materialize(v)
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialize(v) for v in obj)
    return obj


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    del requires_grad, backward_hooks
    return data


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    del requires_grad, backward_hooks, state
    return data


_ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "tuple"): tuple,
    ("builtins", "list"): list,
    ("builtins", "dict"): dict,
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles a state dict, loading storages through ``load_storage(key, dtype, numel)``."""

    def __init__(self, file: BinaryIO, load_storage: Callable[[str, np.dtype, int], np.ndarray], source: str):
        super().__init__(file)
        self._load_storage = load_storage
        self._source = source
        self._cache: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise ValueError(
            f"{self._source}: refusing to unpickle {module}.{name}; only tensor state dicts can be "
            "read without torch (save `model.state_dict()`, not the module)"
        )

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise ValueError(f"{self._source}: unsupported persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid[:5]
        view_metadata = pid[5] if len(pid) > 5 else None
        if not isinstance(storage_type, _StorageType):
            raise ValueError(f"{self._source}: unsupported storage type {storage_type!r}")
        key = str(key)
        if key not in self._cache:
            self._cache[key] = _Storage(self._load_storage(key, storage_type.dtype, int(numel)))
        storage = self._cache[key]
        if view_metadata is not None:  # pre-1.0 storage views: (view_key, offset, view_size)
            _view_key, offset, view_size = view_metadata
            return _Storage(storage.data[int(offset) : int(offset) + int(view_size)])
        return storage


def is_zip_checkpoint(path: str | os.PathLike) -> bool:
    """True if ``path`` is a zip-format torch checkpoint (as opposed to the legacy format)."""
    return zipfile.is_zipfile(path)


def _load_zip(path: str) -> Any:
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkl) != 1:
            raise ValueError(f"{path}: not a torch zip checkpoint (no unique data.pkl inside)")
        root = pkl[0][: -len("data.pkl")]
        byteorder = "little"
        if f"{root}byteorder" in names:
            byteorder = zf.read(f"{root}byteorder").decode().strip()
        if byteorder != "little":
            raise ValueError(f"{path}: big-endian checkpoints are not supported")

        def load_storage(key: str, dtype: np.dtype, numel: int) -> np.ndarray:
            raw = zf.read(f"{root}data/{key}")
            arr = np.frombuffer(raw, dtype=dtype)
            if arr.shape[0] < numel:
                raise ValueError(f"{path}: storage {key} is truncated")
            return arr[:numel]

        obj = _RestrictedUnpickler(io.BytesIO(zf.read(pkl[0])), load_storage, path).load()
        return _materialize(obj)


def _load_legacy(path: str) -> Any:
    with open(path, "rb") as f:
        buf = f.read()
    stream = io.BytesIO(buf)
    try:
        magic = pickle.load(stream)
        protocol = pickle.load(stream)
        sys_info = pickle.load(stream)
    except Exception as e:  # noqa: BLE001 -- any failure here means: not this format
        raise ValueError(f"{path}: not a torch checkpoint ({type(e).__name__}: {e})") from None
    if magic != LEGACY_MAGIC:
        raise ValueError(f"{path}: not a torch checkpoint (bad magic number)")
    if protocol != LEGACY_PROTOCOL:
        raise ValueError(f"{path}: unsupported legacy torch protocol {protocol}")
    if not sys_info.get("little_endian", True):
        raise ValueError(f"{path}: big-endian checkpoints are not supported")

    # The storages follow the object pickle and the key list; they are read lazily after both
    # pickles have been parsed, so record requests first.
    requests: dict[str, tuple[np.dtype, int]] = {}
    placeholders: dict[str, np.ndarray] = {}

    def load_storage(key: str, dtype: np.dtype, numel: int) -> np.ndarray:
        requests[key] = (dtype, numel)
        # Filled in place below once the raw section's offset is known.
        placeholders[key] = np.empty(numel, dtype=dtype)
        return placeholders[key]

    obj = _RestrictedUnpickler(stream, load_storage, path).load()
    keys = pickle.load(stream)
    offset = stream.tell()
    for key in keys:
        if offset + 8 > len(buf):
            raise ValueError(f"{path}: truncated legacy checkpoint (storage {key})")
        (numel,) = struct.unpack("<q", buf[offset : offset + 8])
        offset += 8
        if key not in requests:
            raise ValueError(f"{path}: storage {key} is not referenced by the pickled object")
        dtype, want = requests[key]
        nbytes = numel * dtype.itemsize
        if numel != want or offset + nbytes > len(buf):
            raise ValueError(f"{path}: corrupt legacy checkpoint (storage {key} size mismatch)")
        placeholders[key][...] = np.frombuffer(buf, dtype=dtype, count=numel, offset=offset)
        offset += nbytes
    missing = set(requests) - set(keys)
    if missing:
        raise ValueError(f"{path}: storages {sorted(missing)[:3]} missing from legacy checkpoint")
    return _materialize(obj)


def load_torch_file(path: str | os.PathLike) -> Any:
    """Unpickle a ``torch.save`` file (zip or legacy format) with tensors as NumPy arrays.

    Args:
      path: a ``.pth`` / ``.pt`` / ``.bin`` file written by ``torch.save``.

    Returns:
      The saved object (usually an ``OrderedDict`` of name -> ``np.ndarray``).

    Raises:
      ValueError: the file is not a torch checkpoint, is corrupt, or pickles anything other than
        containers and tensors.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"checkpoint {path} does not exist")
    if is_zip_checkpoint(path):
        return _load_zip(path)
    return _load_legacy(path)
