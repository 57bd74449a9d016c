"""Command line: rank a bank of models on a target by predicted fine-tuning accuracy.

    python -m parc_jax.score                                   # built-in offline bank on Fashion-MNIST
    python -m parc_jax.score --bank offline --dataset digits --runs 3
    python -m parc_jax.score --models efficientnet_lite0,resnet50 --dataset /data/my_images
    python -m parc_jax.score --probes probes/*.npz             # precomputed probe sets (.npz, PARC .pkl)

Bank mode samples PARC's probe set from the dataset's train split, extracts every model's features and
source-class probabilities (data-parallel, cached on disk), scores them with the chosen estimators and
prints the ranking; with several runs (different probe sets) the scores are averaged. The ranking is
saved as CSV and JSON.
"""

from __future__ import annotations

import argparse
import logging
import pathlib
import sys

from parc_jax import ranking
from parc_jax.probe_files import read_probe_file


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m parc_jax.score",
        description="Rank pretrained models by predicted fine-tuning accuracy on a target dataset.",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--bank", default="offline",
                        help="built-in bank name or bank config file (default: %(default)s)")
    source.add_argument("--models", help="comma-separated zoo model names instead of a bank")
    source.add_argument("--probes", nargs="+", metavar="PATH",
                        help="precomputed probe sets, one per model: .npz (features, probs, labels) or PARC .pkl")
    parser.add_argument("--dataset", default="fashion_mnist_deb",
                        help="target: built-in dataset, prepared TFDS name, or image folder (default: %(default)s)")
    parser.add_argument("--split", default="train", help="split the probe set is drawn from (default: %(default)s)")
    parser.add_argument("--probe-size", type=int, default=500, help="probe images (default: %(default)s)")
    parser.add_argument("--sampler", choices=("fixed", "balanced"), default="fixed",
                        help="PARC's fixed-budget or class-balanced sampler (default: %(default)s)")
    parser.add_argument("--runs", type=int, default=1,
                        help="probe sets (PARC seeds 2020 + 3037 r) to average over (default: %(default)s)")
    parser.add_argument("--estimators", default=",".join(ranking.DEFAULT_ESTIMATORS),
                        help=f"comma-separated, first = primary (default %(default)s); any of "
                             f"{', '.join(ranking.VARIANTS)}, or 'all'")
    parser.add_argument("--num-classes", type=int, default=None,
                        help="number of target classes (default: from the dataset / probe files)")
    parser.add_argument("--out", action="append", default=None, metavar="FILE",
                        help="write the ranking to FILE (.csv or .json); may be repeated "
                             "(default: runs/score/<dataset>.csv and .json)")
    parser.add_argument("--data-dir", default=None, help="TFDS data dir (default: $PARC_JAX_DATA_DIR or ~/tensorflow_datasets)")
    parser.add_argument("--cache-dir", default=None, help="probe cache (default: $PARC_JAX_CACHE or ~/.cache/parc_jax/probes)")
    parser.add_argument("--batch-size", type=int, default=128, help="extraction batch over all devices")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32", help="extraction dtype")
    parser.add_argument("--include-own-source", action="store_true",
                        help="also rank models trained on the target dataset itself (skipped by default, as in PARC)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    return parser


def _bank_rankings(args, names: list[str]) -> list[ranking.Ranking]:
    from parc_jax import bank, probing

    entries = bank.load_bank(args.models or args.bank)
    if not args.include_own_source:
        own = [e.name for e in entries if e.source_dataset == args.dataset]
        if own:
            print(f"note: skipping {', '.join(own)} (trained on {args.dataset}; --include-own-source keeps them)",
                  file=sys.stderr)
        entries = [e for e in entries if e.source_dataset != args.dataset]
        if not entries:
            raise ValueError(f"every model of the bank was trained on {args.dataset}; use --include-own-source")
    results = []
    for run in range(args.runs):
        records = probing.probe_bank(
            entries, args.dataset, split=args.split, budget=args.probe_size, run=run, sampler=args.sampler,
            data_dir=args.data_dir, cache_dir=args.cache_dir, batch_size=args.batch_size, dtype=args.dtype,
        )
        results.append(ranking.rank_bank(records, names, num_classes=args.num_classes))
    return results


def _check_args(args) -> None:
    for name, value, low in (("--runs", args.runs, 1), ("--probe-size", args.probe_size, 4), ("--batch-size", args.batch_size, 1)):
        if value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    for out in args.out or []:
        if not out.endswith((".csv", ".json")):
            raise ValueError(f"--out must end in .csv or .json, got {out!r}")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        _check_args(args)
        names = ranking.parse_estimators(args.estimators)
        if args.probes:
            records = [read_probe_file(path) for path in args.probes]
            result = ranking.rank_bank(records, names, num_classes=args.num_classes)
            default_stem = pathlib.Path(args.probes[0]).parent / "ranking"
        else:
            result = ranking.average(_bank_rankings(args, names))
            default_stem = pathlib.Path("runs/score") / pathlib.Path(args.dataset).name
        outputs = args.out or [f"{default_stem}.csv", f"{default_stem}.json"]
        for out in outputs:
            pathlib.Path(out).parent.mkdir(parents=True, exist_ok=True)
            result.save(out)
    except ValueError as error:  # includes data.DataUnavailableError and CorruptCacheEntryError
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(result.table())
    print("saved: " + ", ".join(outputs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
