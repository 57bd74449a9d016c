"""Reading the PARC release's results and oracle tables (CSV files or in-memory tables).

A table is returned as an ordered dict of columns (column name -> list of raw cell values), so
that the protocol sees a CSV file, a list of row dicts and a dict of columns the same way.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, Union

import numpy as np

Table = Union[str, "os.PathLike[str]", Sequence[Mapping[str, Any]], Mapping[str, Sequence[Any]]]


def read_table(table: Table, what: str, required: Sequence[str]) -> dict[str, list[Any]]:
    """Loads `table` as columns and checks that the `required` columns are present.

    Args:
      table: a path to a CSV file with a header row, a list of row dicts (all with the same
        keys), or a dict of equally long columns.
      what: the table's role, for error messages ("results", "oracle").
      required: column names that must be present.

    Returns:
      {column name: list of cell values}, in the table's column order.

    Raises:
      ValueError: unreadable or empty table, ragged rows/columns, or a required column missing.
    """
    if isinstance(table, (str, os.PathLike)):
        columns = _read_csv(os.fspath(table), what)
    elif isinstance(table, Mapping):
        columns = {str(k): list(v) for k, v in table.items()}
        lengths = {k: len(v) for k, v in columns.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"{what} table: columns have different lengths {lengths}")
    elif isinstance(table, Sequence) and all(isinstance(r, Mapping) for r in table):
        columns = _rows_to_columns(table, what)
    else:
        raise ValueError(
            f"{what} table must be a CSV path, a list of row dicts or a dict of columns, got {type(table).__name__}"
        )
    missing = [c for c in required if c not in columns]
    if missing:
        raise ValueError(f"{what} table lacks column(s) {missing}; expected {list(required)}, found {list(columns)}")
    if not columns or not len(next(iter(columns.values()))):
        raise ValueError(f"{what} table has no rows")
    return columns


def _read_csv(path: str, what: str) -> dict[str, list[str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            numbered = [(reader.line_num, r) for r in reader if any(c.strip() for c in r)]
    except OSError as err:
        raise ValueError(f"cannot read the {what} CSV {path!r}: {err.strerror}") from None
    except (UnicodeDecodeError, csv.Error) as err:
        raise ValueError(f"{what} file {path!r} is not a readable CSV text file: {err}") from None
    if not numbered:
        raise ValueError(f"{what} CSV {path!r} is empty; expected a header row")
    header = [h.strip() for h in numbered[0][1]]
    body = [row for _, row in numbered[1:]]
    for line, row in numbered[1:]:
        if len(row) != len(header):
            raise ValueError(f"{what} CSV {path!r} line {line}: {len(row)} cells where the header has {len(header)}")
    return {name: [row[i].strip() for row in body] for i, name in enumerate(header)}


def _rows_to_columns(rows: Sequence[Mapping[str, Any]], what: str) -> dict[str, list[Any]]:
    if not rows:
        raise ValueError(f"{what} table has no rows")
    names = list(rows[0])
    for i, row in enumerate(rows):
        if set(row) != set(names):
            raise ValueError(f"{what} table: row {i} has keys {list(row)}, row 0 has {names}")
    return {str(name): [row[name] for row in rows] for name in names}


def key_of(value: Any) -> str:
    """A cell used as a key (run, architecture, dataset) as text: 3, 3.0 and '3' all give '3'."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def to_float(value: Any, what: str, column: str, row: int) -> float:
    """A numeric cell as float; an empty cell or None reads as NaN (the caller decides)."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} table: column {column!r} row {row} holds {value!r}, not a number") from None
