"""The bank pipeline: bank entries -> probe sets -> scores -> ranking.

* :func:`load_bank`: a built-in bank (``parc_jax/bank/builtin/<name>.py``), a bank config file, or
  comma-separated zoo names -> a list of :class:`BankEntry` (model, weights, source dataset).
* :func:`probe_bank`: PARC's probe set of a target run through every entry (data-parallel, cached on
  disk) -> one :class:`ProbeRecord` per model; :func:`read_probe_file` / :func:`write_probe_file` read
  and write probe sets computed elsewhere (parc_jax ``.npz``, the PARC release's pickles).
* :func:`rank_bank`: every model scored with every named estimator variant (:data:`VARIANTS`), one
  batched call per estimator -> a :class:`Ranking` (table, CSV/JSON, recommended model).

``python -m parc_jax.score`` is the command line of this pipeline (:func:`score_target` of a config).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# Public name -> private module. Names load on first use, so that ``python -m parc_jax.score --probes``
# imports neither the model zoo (Flax) nor the datasets (TFDS): `python -X importtime` keeps them out.
_EXPORTS = {
    "DEFAULT_ESTIMATORS": "_ranking",
    "REFERENCE_VARIANTS": "_ranking",
    "VARIANTS": "_ranking",
    "BankEntry": "_entries",
    "ProbeRecord": "_probe_files",
    "Ranking": "_ranking",
    "Timing": "_ranking",
    "average": "_ranking",
    "builtin_banks": "_entries",
    "default_cache_dir": "_probing",
    "default_config": "_command",
    "load_config": "_command",
    "load_bank": "_entries",
    "parse_estimators": "_ranking",
    "probe_bank": "_probing",
    "rank_bank": "_ranking",
    "read_probe_file": "_probe_files",
    "sample_probe_set": "_probing",
    "score_records": "_ranking",
    "score_target": "_command",
    "write_probe_file": "_probe_files",
}

if TYPE_CHECKING:
    from parc_jax.bank._command import default_config, load_config, score_target
    from parc_jax.bank._entries import BankEntry, builtin_banks, load_bank
    from parc_jax.bank._probe_files import ProbeRecord, read_probe_file, write_probe_file
    from parc_jax.bank._probing import default_cache_dir, probe_bank, sample_probe_set
    from parc_jax.bank._ranking import (
        DEFAULT_ESTIMATORS,
        REFERENCE_VARIANTS,
        VARIANTS,
        Ranking,
        Timing,
        average,
        parse_estimators,
        rank_bank,
        score_records,
    )


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__all__ = [
    "DEFAULT_ESTIMATORS",
    "REFERENCE_VARIANTS",
    "VARIANTS",
    "BankEntry",
    "ProbeRecord",
    "Ranking",
    "Timing",
    "average",
    "builtin_banks",
    "default_cache_dir",
    "default_config",
    "load_config",
    "load_bank",
    "parse_estimators",
    "probe_bank",
    "rank_bank",
    "read_probe_file",
    "sample_probe_set",
    "score_records",
    "score_target",
    "write_probe_file",
]
