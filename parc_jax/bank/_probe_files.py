"""Reading precomputed probe sets: parc_jax `.npz` files and the PARC release's probe pickles.

A probe file holds, for one (model, target) pair, the features and source-class probabilities of the
probe images and their target labels:

* `.npz` (written by parc_jax): arrays `features` [N, D], `probs` [N, Z], `labels` [N]; optional
  string entries `model`, `architecture`, `source_dataset`, `target_dataset`, optional int
  `num_classes`.
* `.pkl` / `.pickle` (the PARC release's probe cache): a dict with 'features', 'probs', 'y',
  'source_dataset', 'target_dataset', 'architecture'. It is read with a restricted unpickler that
  rebuilds NumPy arrays and plain containers only, so a pickle cannot run code.
"""

from __future__ import annotations

import dataclasses
import pathlib
import pickle
import zipfile

import numpy as np

from parc_jax._io import atomic_open
from parc_jax.extract import ProbeSet

_SAFE_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("builtins", "dict"),
    ("builtins", "list"),
    ("builtins", "tuple"),
    ("collections", "OrderedDict"),
}


@dataclasses.dataclass(frozen=True)
class ProbeRecord:
    """One model's probe set on one target, with what the ranking table shows about it."""

    model: str
    probe: ProbeSet
    architecture: str = ""
    source_dataset: str = ""
    target_dataset: str = ""
    num_classes: int | None = None
    path: str = ""


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _SAFE_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _string(value) -> str:
    return str(np.asarray(value).item()) if value is not None else ""


def _record(path: pathlib.Path, fields: dict, labels_key: str) -> ProbeRecord:
    missing = [k for k in ("features", "probs", labels_key) if k not in fields]
    if missing:
        raise ValueError(f"{path}: missing {', '.join(missing)} (expected features, probs and {labels_key})")
    try:
        probe = ProbeSet(
            features=np.asarray(fields["features"], np.float32),
            probs=np.asarray(fields["probs"], np.float32),
            labels=np.asarray(fields[labels_key]),
        )
    except (ValueError, TypeError) as error:
        raise ValueError(f"{path}: {error}") from None
    architecture = _string(fields.get("architecture"))
    source = _string(fields.get("source_dataset"))
    model = _string(fields.get("model")) or (f"{architecture}/{source}" if architecture and source else path.stem)
    num_classes = fields.get("num_classes")
    return ProbeRecord(
        model=model,
        probe=probe,
        architecture=architecture,
        source_dataset=source,
        target_dataset=_string(fields.get("target_dataset")),
        num_classes=None if num_classes is None else int(np.asarray(num_classes)),
        path=str(path),
    )


def read_probe_file(path) -> ProbeRecord:
    """Read one `.npz` or PARC-release pickle; `ValueError` naming the file if it is unusable."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such probe file")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                return _record(path, {k: data[k] for k in data.files}, "labels")
        if path.suffix in (".pkl", ".pickle"):
            with open(path, "rb") as handle:
                fields = _SafeUnpickler(handle).load()
            if not isinstance(fields, dict):
                raise ValueError(f"{path}: expected a dict of arrays, got {type(fields).__name__}")
            return _record(path, fields, "y")
    except (OSError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, ValueError) as error:
        message = str(error)
        raise ValueError(
            message if message.startswith(str(path)) else f"{path}: not a readable probe file ({message})"
        ) from None
    raise ValueError(f"{path}: unknown probe file type {path.suffix!r}; use .npz or the PARC release's .pkl")


def write_probe_file(path, record: ProbeRecord) -> None:
    """Write a record as a parc_jax `.npz`, atomically."""
    with atomic_open(path) as handle:
        np.savez(
            handle,
            features=record.probe.features,
            probs=record.probe.probs,
            labels=record.probe.labels,
            model=record.model,
            architecture=record.architecture,
            source_dataset=record.source_dataset,
            target_dataset=record.target_dataset,
            **({} if record.num_classes is None else {"num_classes": record.num_classes}),
        )
