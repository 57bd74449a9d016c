"""On-disk cache of probe sets: one ``.npz`` per (model, dataset, split, sampler, seed, ...).

Extraction is the expensive step of scoring a bank; the estimators are cheap. The cache keeps
every model's features, probabilities and labels so that re-scoring (other estimators, other
settings) never runs a model twice.

Entries are written atomically: the arrays go to a temporary file in the cache directory
(``.<name>.<random>.tmp``), which is flushed, fsync'ed and then renamed onto the entry's name
with :func:`os.replace`. A run killed mid-write leaves at worst a stray ``.tmp`` file, never a
truncated ``.npz`` under an entry's name. An entry that cannot be read back (damaged disk,
edited file, a file from another key) raises :class:`CorruptCacheEntryError` naming the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import pathlib
import re
import zipfile
from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np

from parc_jax._io import atomic_open
from parc_jax.extract._probe_set import ProbeSet

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
_ARRAYS = ("features", "probs")


class CorruptCacheEntryError(ValueError):
    """A cache file exists but does not hold a valid probe set for its key."""


@dataclasses.dataclass(frozen=True)
class ProbeKey:
    """Everything that changes the numbers of a cached probe set.

    Attributes:
      model: model name (e.g. ``"resnet50"``), including the weights' origin if several exist.
      dataset: target dataset (e.g. ``"fashion_mnist"``).
      split: dataset split the probe set is drawn from.
      sampler: probe sampler name (e.g. ``"class_balanced"``).
      seed: sampler seed.
      size: number of probe images.
      dtype: compute dtype of the extraction (``"float32"`` or ``"bfloat16"``).
      extra: anything else that changes the numbers (image size, preprocessing version,
        layer read, ...), a JSON-serialisable mapping.
    """

    model: str
    dataset: str
    split: str
    sampler: str
    seed: int
    size: int
    dtype: str = "float32"
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The key as a plain, JSON-serialisable dict."""
        d = dataclasses.asdict(self)
        d["extra"] = dict(self.extra)
        return d


def _canonical(key: ProbeKey | Mapping[str, Any]) -> dict[str, Any]:
    """Key -> JSON-normalised dict (so a key read back from disk compares equal)."""
    d = key.as_dict() if isinstance(key, ProbeKey) else dict(key)
    if not d:
        raise ValueError("probe cache key is empty; name at least the model and the dataset")
    try:
        return json.loads(json.dumps(d, sort_keys=True, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise ValueError(f"probe cache key {d!r} is not JSON-serialisable ({e})") from None


def _slug(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(value)).strip("-")[:40] or "x"


class ProbeCache:
    """A directory of cached probe sets.

    Example::

        cache = ProbeCache("~/.cache/parc_jax/probes")
        key = ProbeKey("resnet50", "fashion_mnist", "train", "class_balanced", seed=0,
                       size=500, dtype="float32")
        probe = cache.get_or_compute(key, lambda: extract(model.apply, model.variables, x,
                                                          labels=y, preprocess=model.preprocess))

    Under ``jax.distributed`` every process computes and writes the same entry (the atomic
    rename makes concurrent writers safe); give all processes the same, shared directory so
    that they all hit or all miss together.

    Args:
      root: cache directory (created on first write).
    """

    def __init__(self, root: str | os.PathLike):
        self.root = pathlib.Path(root).expanduser()

    def path(self, key: ProbeKey | Mapping[str, Any]) -> pathlib.Path:
        """The entry's file: readable fields plus a hash of the whole key."""
        d = _canonical(key)
        digest = hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]
        readable = [d.get(k) for k in ("model", "dataset", "split", "sampler", "seed", "size", "dtype")]
        stem = "_".join(_slug(v) for v in readable if v is not None)
        return self.root / f"{stem}_{digest}.npz"

    def __contains__(self, key: ProbeKey | Mapping[str, Any]) -> bool:
        return self.path(key).is_file()

    def entries(self) -> list[pathlib.Path]:
        """The complete entries in the cache (temporary files of unfinished writes excluded)."""
        return sorted(self.root.glob("[!.]*.npz")) if self.root.is_dir() else []

    def get(self, key: ProbeKey | Mapping[str, Any]) -> ProbeSet | None:
        """Reads an entry; None when absent.

        Raises:
          CorruptCacheEntryError: the file exists but is unreadable, incomplete, or holds
            another key.
        """
        want = _canonical(key)
        path = self.path(want)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                members = set(z.files)
                missing = {"key", "format_version", *_ARRAYS} - members
                if missing:
                    raise CorruptCacheEntryError(f"missing arrays {sorted(missing)}")
                version = int(z["format_version"])
                if version != FORMAT_VERSION:
                    raise CorruptCacheEntryError(f"format version {version}, this parc_jax reads {FORMAT_VERSION}")
                stored = json.loads(str(z["key"]))
                if stored != want:
                    raise CorruptCacheEntryError(f"it holds key {stored}, not {want}")
                probe = ProbeSet(
                    features=z["features"],
                    probs=z["probs"],
                    labels=z["labels"] if "labels" in members else None,
                )
        except CorruptCacheEntryError as e:
            raise CorruptCacheEntryError(self._corrupt_message(path, str(e))) from None
        except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as e:
            raise CorruptCacheEntryError(self._corrupt_message(path, f"{type(e).__name__}: {e}")) from None
        log.debug("probe cache hit %s", path)
        return probe

    def put(self, key: ProbeKey | Mapping[str, Any], probe: ProbeSet) -> pathlib.Path:
        """Writes an entry atomically (:func:`parc_jax._io.atomic_open`)."""
        if not isinstance(probe, ProbeSet):
            raise ValueError(f"can only cache a ProbeSet, got {type(probe).__name__}")
        d = _canonical(key)
        path = self.path(d)
        self.root.mkdir(parents=True, exist_ok=True)
        arrays = {
            "key": np.asarray(json.dumps(d, sort_keys=True)),
            "format_version": np.asarray(FORMAT_VERSION),
            "features": np.asarray(probe.features),
            "probs": np.asarray(probe.probs),
        }
        if probe.labels is not None:
            arrays["labels"] = np.asarray(probe.labels)
        with atomic_open(path) as handle:
            np.savez(handle, **arrays)
        log.debug("probe cache wrote %s", path)
        return path

    def get_or_compute(
        self,
        key: ProbeKey | Mapping[str, Any],
        compute: Callable[[], ProbeSet],
        *,
        on_corrupt: Literal["raise", "recompute"] = "raise",
    ) -> ProbeSet:
        """Returns the cached probe set for ``key``, computing and storing it on a miss.

        Args:
          key: a :class:`ProbeKey` or any JSON-serialisable mapping naming everything that
            changes the numbers.
          compute: called with no arguments on a miss; returns the :class:`ProbeSet`.
          on_corrupt: ``"raise"`` (default) raises :class:`CorruptCacheEntryError` for an
            unreadable entry; ``"recompute"`` logs a warning and overwrites it.
        """
        if on_corrupt not in ("raise", "recompute"):
            raise ValueError(f"on_corrupt={on_corrupt!r}; use 'raise' or 'recompute'")
        try:
            probe = self.get(key)
        except CorruptCacheEntryError as e:
            if on_corrupt == "raise":
                raise
            log.warning("%s; recomputing", e)
            probe = None
        if probe is not None:
            return probe
        probe = compute()
        self.put(key, probe)
        return probe

    @staticmethod
    def _corrupt_message(path: pathlib.Path, reason: str) -> str:
        reason = " ".join(reason.split())
        return (
            f"probe cache entry {path} is corrupt ({reason}); delete that file to recompute it, "
            "or pass on_corrupt='recompute'"
        )
