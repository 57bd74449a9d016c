"""List the zoo: ``python -m parc_jax.models [--json] [NAME ...]``.

One row per model: name, family, source dataset, feature dim, parameters, depth, input size, and
the pretrained weights file found on this machine (or how to get it).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from parc_jax import models


def _rows(selected: list[str]) -> list[dict]:
    rows = []
    for name in selected:
        info = models.describe(name)
        row = dataclasses.asdict(info)
        row["weights_present"] = info.weights != "random"
        rows.append(row)
    return rows


def _table(rows: list[dict]) -> str:
    cols = [
        ("name", "name"),
        ("family", "family"),
        ("source", "source_dataset"),
        ("classes", "num_source_classes"),
        ("feat_dim", "feature_dim"),
        ("params", "num_params"),
        ("depth", "depth"),
        ("input", "input_size"),
        ("weights", "weights"),
    ]
    cells = []
    for r in rows:
        r = dict(
            r,
            input_size=r["preprocessing"]["input_size"],
            num_params=f"{r['num_params'] / 1e6:.2f}M",
            weights=r["weights"] if r["weights_present"] else "missing",
        )
        cells.append([str(r[k]) for _, k in cols])
    header = [c for c, _ in cols]
    widths = [max(len(x) for x in col) for col in zip(header, *cells)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*c).rstrip() for c in [header, *cells])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parc_jax.models", description="List the parc_jax model zoo.")
    parser.add_argument("names", nargs="*", help="models to show (default: all)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    selected = args.names or models.names()
    unknown = [n for n in selected if n not in models.names()]
    if unknown:
        print(f"error: unknown model {unknown[0]!r}; known models: {', '.join(models.names())}", file=sys.stderr)
        return 2
    rows = _rows(selected)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(_table(rows))
        missing = [r["name"] for r in rows if not r["weights_present"]]
        if missing:
            print(
                f"\n{len(missing)} without weights here; models.load(name) says how to get "
                "them, pretrained=False gives a random initialisation."
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
