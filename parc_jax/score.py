"""Command line: rank a bank of models on a target by predicted fine-tuning accuracy.

    python -m parc_jax.score                                   # built-in offline bank on Fashion-MNIST
    python -m parc_jax.score --bank offline --dataset digits --runs 3
    python -m parc_jax.score --models efficientnet_lite0,resnet50 --dataset /data/my_images
    python -m parc_jax.score --probes probes/*.npz             # precomputed probe sets (.npz, PARC .pkl)
    python -m parc_jax.score --config my_score.py --config.runs=3
    python -m parc_jax.score --dataset digits --history past_finetunes.csv --rank-by-history

Each flag sets the config field of the same name (:func:`parc_jax.bank.default_config`); a config file
(``--config FILE``) and ``--config.FIELD=VALUE`` work as for every command (:mod:`parc_jax._config`).
Bank mode samples PARC's probe set from the dataset, extracts every model's features and source-class
probabilities (data-parallel, cached on disk), scores them with the chosen estimators and prints the
ranking; with several runs the scores are averaged. The ranking is saved as CSV and JSON. Bad input
prints one line on stderr and exits with status 2.

Run as a process, the command keeps OpenBLAS (the LAPACK behind NumPy, SciPy and JAX's SVDs and
eigendecompositions on a CPU) on one thread unless ``OPENBLAS_NUM_THREADS`` is set: the estimators'
decompositions are small (N x D with N ~ 500), and on a 2-core machine shared with other processes
OpenBLAS's threads waiting for each other made them 5-15x slower than one thread.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from parc_jax import _config


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line (exit status 2)."""

    def error(self, message):
        self.exit(2, f"error: {message} (see --help)\n")


def _names(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m parc_jax.score",
        description="Rank pretrained models by predicted fine-tuning accuracy on a target dataset. "
        "Every flag sets the config field of its name; --config.FIELD=VALUE sets any field.",
    )
    p.add_argument("--config", metavar="FILE", help="Python config file with get_config()")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--bank", help="built-in bank name or bank config file (default: offline)")
    source.add_argument("--models", type=_names, help="comma-separated zoo model names instead of a bank")
    source.add_argument(
        "--probes",
        nargs="+",
        metavar="PATH",
        help="precomputed probe sets, one per model: .npz (features, probs, labels) or PARC .pkl",
    )
    p.add_argument(
        "--dataset", help="target: built-in dataset, prepared TFDS name, or image folder (default: fashion_mnist_deb)"
    )
    p.add_argument("--split", help="split the probe set is drawn from (default: train)")
    p.add_argument("--label-key", help="label feature, where the dataset has several (default: its supervised keys)")
    p.add_argument("--probe-size", type=int, help="probe images (default: 500)")
    p.add_argument("--sampler", choices=("fixed", "balanced"), help="PARC's fixed-budget or class-balanced sampler")
    p.add_argument("--runs", type=int, help="probe sets (PARC seeds 2020 + 3037 r) to average over (default: 1)")
    p.add_argument(
        "--estimators",
        type=_names,
        help="comma-separated estimator variants, first = primary (parc_f32,logme,... or 'all')",
    )
    p.add_argument("--num-classes", type=int, help="number of target classes (default: from the data)")
    p.add_argument(
        "--out",
        action="append",
        metavar="FILE",
        help="write the ranking to FILE (.csv or .json); may be repeated (default: runs/score/<dataset>.csv and .json)",
    )
    p.add_argument("--data-dir", help="datasets (default: $PARC_JAX_DATA_DIR or ~/tensorflow_datasets)")
    p.add_argument("--cache-dir", help="probe cache (default: $PARC_JAX_CACHE or ~/.cache/parc_jax/probes)")
    p.add_argument("--batch-size", type=int, help="extraction batch over all devices (default: 128)")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), help="extraction dtype (default: float32)")
    p.add_argument(
        "--include-own-source",
        action="store_true",
        default=None,
        help="also rank models trained on the target dataset itself (skipped by default, as in PARC)",
    )
    p.add_argument(
        "--history",
        metavar="FILE|NAME",
        help="oracle table of past fine-tunes (CSV or built-in name): adds the history-aware "
        "prediction of each model's fine-tuned accuracy as the column 'history'",
    )
    p.add_argument(
        "--history-probes",
        type=_names,
        help="comma-separated estimators whose scores correct the history prior (the history "
        "table holds their past scores in columns of the same names)",
    )
    p.add_argument(
        "--rank-by-history",
        action="store_true",
        default=None,
        help="recommend by the history-aware prediction instead of the first estimator",
    )
    p.add_argument(
        "--compilation-cache",
        metavar="DIR",
        default=None,
        help="JAX's persistent compilation cache (default: $PARC_JAX_COMPILATION_CACHE or "
        "~/.cache/parc_jax/xla; 'off' disables it)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    return p


_NOT_FIELDS = ("config", "compilation_cache", "verbose")


def main(argv=None) -> int:
    args, rest = build_parser().parse_known_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    # Imported after parsing: the model and data stacks are heavy, and --help should be instant.
    from parc_jax import bank  # pylint: disable=import-outside-toplevel

    try:
        flags = {k: v for k, v in vars(args).items() if k not in _NOT_FIELDS and v is not None}
        config = _config.apply_overrides(bank.load_config(args.config), {**_config.split_overrides(rest), **flags})
        _config.enable_compilation_cache(args.compilation_cache)
        result, outputs = bank.score_target(config)
    except ValueError as error:  # includes data.DataUnavailableError and CorruptCacheEntryError
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(result.table())
    print("saved: " + ", ".join(outputs))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy loads OpenBLAS (see the module docstring)
    sys.exit(main())
