"""Data-parallel feature extraction and the on-disk probe cache.

``extract(apply_fn, variables, images, labels=...)`` runs a model over a probe set on all local
devices (``strategy="mesh"``: jit over a device mesh; ``"pmap"``: ``jax.pmap``) and returns a
:class:`ProbeSet` of features ``[N, D]``, source-class probabilities ``[N, Z]`` and labels.
:class:`ProbeCache` stores probe sets per :class:`ProbeKey` so that no model runs twice.
"""

from parc_jax.extract._cache import CorruptCacheEntryError, ProbeCache, ProbeKey
from parc_jax.extract._extractor import Extractor, extract
from parc_jax.extract._probe_set import ProbeSet

__all__ = [
    "CorruptCacheEntryError",
    "Extractor",
    "ProbeCache",
    "ProbeKey",
    "ProbeSet",
    "extract",
]
