"""Oracle tables: the fine-tuned accuracy of every (architecture, source, target) transfer.

One reader for every oracle table (the PARC release's CSVs, the published tables shipped in
``parc_jax/evaluation/tables/``, the ones ``python -m parc_jax.finetune`` writes), the built-in
tables by name, and the leave-target-out accuracy that several baselines build on.
"""

from __future__ import annotations

import math
import os
import pathlib
from collections.abc import Iterable, Mapping

import numpy as np

from parc_jax.evaluation._tables import Table, key_of, read_table, to_float

#: Columns of an oracle table (fine-tuned accuracy per transfer); extra columns are allowed.
ORACLE_COLUMNS = ("Architecture", "Source Dataset", "Target Dataset", "Oracle")

TransferKey = tuple[str, str, str]

_TABLES = pathlib.Path(__file__).resolve().parent / "tables"
#: Oracle tables shipped with the package, by name.
BUILTIN_ORACLES: Mapping[str, pathlib.Path] = {
    "parc_controlled": _TABLES / "parc_release" / "oracle_controlled.csv",
    "parc_all": _TABLES / "parc_release" / "oracle_all.csv",
    **{f"history_{p.stem}": p for p in sorted((_TABLES / "history").glob("*.csv")) if p.stem != "sfda_published_wtau"},
}


def oracle_path(spec: str | os.PathLike) -> pathlib.Path:
    """A built-in oracle name (see :data:`BUILTIN_ORACLES`) or a CSV path -> the table's path.

    Raises:
      ValueError: neither a built-in name nor an existing file.
    """
    if str(spec) in BUILTIN_ORACLES:
        return BUILTIN_ORACLES[str(spec)]
    path = pathlib.Path(spec)
    if not path.is_file():
        raise ValueError(
            f"oracle table {str(spec)!r} not found; give a CSV file or a built-in name ({', '.join(BUILTIN_ORACLES)})"
        )
    return path


def read_oracle(table: Table) -> dict[TransferKey, float]:
    """An oracle table as {(architecture, source, target): accuracy}; empty cells read as NaN.

    Args:
      table: a CSV path, a built-in name, a list of row dicts or a dict of columns with the
        columns of :data:`ORACLE_COLUMNS`.

    Raises:
      ValueError: unreadable table, missing columns, a transfer listed twice or a non-numeric accuracy.
    """
    if isinstance(table, (str, os.PathLike)):
        table = oracle_path(table)
    columns = read_table(table, "oracle", ORACLE_COLUMNS)
    lookup: dict[TransferKey, float] = {}
    for row, key in enumerate(zip(*(map(key_of, columns[c]) for c in ORACLE_COLUMNS[:3]))):
        if key in lookup:
            raise ValueError(f"oracle table: {key} appears twice (row {row}); keep one accuracy per transfer")
        lookup[key] = to_float(columns["Oracle"][row], "oracle", "Oracle", row)
    return lookup


def leave_target_out_accuracy(
    oracle: Mapping[TransferKey, float], architecture: str, source: str, target: str
) -> float:
    """Mean fine-tuned accuracy of one model over the oracle's other targets (NaN if none).

    b(model, t) = mean over t' != t with oracle(model, t') > 0 of oracle(model, t'): how well the
    model transfers in general, without looking at t itself (the "static ranker").
    """
    values = [acc for (a, s, t), acc in oracle.items() if a == architecture and s == source and t != target and acc > 0]
    return float(np.mean(values)) if values else math.nan


def check_oracle_covers(oracle: Mapping[TransferKey, float], transfers: Iterable[TransferKey], name: str) -> None:
    """Fails before any work when a (model, source, target) to score has no oracle row."""
    missing = [t for t in transfers if tuple(key_of(v) for v in t) not in oracle]
    if missing:
        example = next(iter(oracle))
        raise ValueError(
            f"oracle table {name!r} has no accuracy for {len(missing)} transfer(s), e.g. {missing[:2]} "
            f"(it has e.g. {example}); use the oracle of this bank and these targets, with "
            "Architecture = the bank entry's name"
        )
