"""Command line: rank a bank of models on a target with transferability estimators.

    python -m parc_jax.score --probes probes/*.npz [--estimators parc_f32,logme] [--out ranking.csv]

Reads precomputed probe sets (parc_jax .npz files or the PARC release's probe pickles), scores every
model with every chosen estimator, prints the ranking and writes it as CSV or JSON.
"""

from __future__ import annotations

import argparse
import logging
import sys

from parc_jax import ranking
from parc_jax.probe_files import read_probe_file


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m parc_jax.score",
        description="Rank pretrained models by predicted fine-tuning accuracy on a target.",
    )
    parser.add_argument("--probes", nargs="+", metavar="PATH", required=True,
                        help="precomputed probe sets, one per model: .npz (features, probs, labels) or PARC .pkl")
    parser.add_argument("--estimators", default=",".join(ranking.DEFAULT_ESTIMATORS),
                        help=f"comma-separated, first = primary (default %(default)s); any of "
                             f"{', '.join(ranking.VARIANTS)}, or 'all'")
    parser.add_argument("--num-classes", type=int, default=None,
                        help="number of target classes (default: from the probe files, else max label + 1)")
    parser.add_argument("--out", action="append", default=[], metavar="FILE",
                        help="write the ranking to FILE (.csv or .json); may be repeated")
    return parser


def main(argv=None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        names = ranking.parse_estimators(args.estimators)
        for out in args.out:
            if not out.endswith((".csv", ".json")):
                raise ValueError(f"--out must end in .csv or .json, got {out!r}")
        records = [read_probe_file(path) for path in args.probes]
        result = ranking.rank_bank(records, names, num_classes=args.num_classes)
        for out in args.out:
            result.save(out)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(result.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
