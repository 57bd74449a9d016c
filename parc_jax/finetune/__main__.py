"""Command line: fine-tune one (model, dataset) pair, or a whole bank.

    python -m parc_jax.finetune --model NAME --dataset NAME --workdir DIR [--config FILE]
                                [--config.KEY=VALUE ...]
    python -m parc_jax.finetune --bank NAME|FILE --targets A,B,... --workdir DIR [--config FILE]
    python -m parc_jax.finetune --models A,B --targets C,D --workdir DIR
    python -m parc_jax.finetune --config configs/finetune/offline_sources.py --workdir DIR

Rerunning the same command resumes an interrupted run and skips finished pairs. Bad input
prints one line on stderr and exits with status 2; a diverged run exits with status 3.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from parc_jax import _config
from parc_jax.finetune._config import load_config, validate_config
from parc_jax.finetune._run import TrainingDiverged


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m parc_jax.finetune",
        description="Fine-tune zoo models on target datasets (grid search, resumable) and write "
        "the oracle table. Config fields are overridden with --config.KEY=VALUE.",
    )
    p.add_argument("--model", help="zoo model name (one pair)")
    p.add_argument("--dataset", help="target dataset: built-in name, image folder or prepared TFDS name")
    p.add_argument(
        "--bank",
        help="bank: a built-in bank name or a Python file with get_config() "
        "(parc_jax.bank format: each entry's weights, source and image size)",
    )
    p.add_argument("--models", help="comma-separated zoo model names (a bank without a config)")
    p.add_argument("--targets", help="comma-separated target datasets for the bank")
    p.add_argument("--workdir", required=True, help="output directory (checkpoints, results, oracle.csv)")
    p.add_argument("--config", help="Python config file with get_config() (default: the built-in defaults)")
    p.add_argument("--data-dir", help="where prepared datasets live (default: $PARC_JAX_DATA_DIR)")
    p.add_argument("--weights", help="one pair: load these weights instead of the zoo's")
    p.add_argument(
        "--export",
        help="mode=scratch: save the trained model here (one pair), or every model as EXPORT/<model>__<target>/ (bank)",
    )
    p.add_argument(
        "--split",
        default="data",
        choices=("data", "pairs"),
        help="multi-host: train each pair on all hosts (data) or spread pairs (pairs)",
    )
    p.add_argument(
        "--keep-own-source", action="store_true", help="bank: also fine-tune models on their own source dataset"
    )
    p.add_argument(
        "--distributed",
        action="store_true",
        help="multi-host: call jax.distributed.initialize() first (cluster auto-detected on "
        "Cloud TPU / SLURM, else from JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, "
        "JAX_PROCESS_ID)",
    )
    p.add_argument(
        "--compilation-cache",
        metavar="DIR",
        default=None,
        help="JAX's persistent compilation cache (default: $PARC_JAX_COMPILATION_CACHE or "
        "~/.cache/parc_jax/xla; 'off' disables it)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return p


def run(argv: list[str] | None = None) -> dict | list:
    """Parses ``argv`` and runs; returns the pair result or the oracle rows."""
    args, rest = _parser().parse_known_args(argv)
    lists = {"models": args.models, "targets": args.targets}
    config = _config.apply_overrides(
        load_config(args.config), {**_config.split_overrides(rest), **{k: v for k, v in lists.items() if v is not None}}
    )
    validate_config(config)
    _config.enable_compilation_cache(args.compilation_cache)
    single = args.model or args.dataset
    if single and (args.bank or args.models or args.targets):
        raise ValueError("use either --model/--dataset (one pair) or --bank/--models with --targets")
    # Imported here: the data and model stacks are heavy, and --help should be instant.
    from parc_jax.bank import load_bank  # pylint: disable=import-outside-toplevel

    model_names = load_bank(args.bank) if args.bank else list(config.models)
    target_names = list(config.targets)
    from parc_jax.finetune._bank import run_bank  # pylint: disable=import-outside-toplevel
    from parc_jax.finetune._sources import finetune_pair  # pylint: disable=import-outside-toplevel

    if single:
        if not (args.model and args.dataset):
            raise ValueError("one pair needs both --model and --dataset")
        return finetune_pair(
            args.model,
            args.dataset,
            config,
            args.workdir,
            data_dir=args.data_dir,
            weights_path=args.weights,
            export=args.export,
            progress=not args.no_progress,
        )
    if args.weights:
        raise ValueError("--weights applies to one pair (--model/--dataset) only")
    if not model_names or not target_names:
        raise ValueError(
            "nothing to do: pass --model and --dataset, or a bank (--bank/--models or "
            "config.models) and --targets (or config.targets)"
        )
    return run_bank(
        model_names,
        target_names,
        config,
        args.workdir,
        data_dir=args.data_dir,
        skip_own_source=not args.keep_own_source,
        split=args.split,
        export_dir=args.export,
        progress=not args.no_progress,
    )


def main(argv: list[str] | None = None) -> int:
    import jax  # pylint: disable=import-outside-toplevel

    if "--distributed" in (sys.argv if argv is None else argv):
        jax.distributed.initialize()  # before any other JAX call; one process per host
    level = logging.DEBUG if "-v" in (argv or sys.argv) or "--verbose" in (argv or sys.argv) else logging.INFO
    logging.basicConfig(
        level=level if jax.process_index() == 0 else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.getLogger("absl").setLevel(logging.WARNING)
    try:
        out = run(argv)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except TrainingDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    if isinstance(out, dict) and jax.process_index() == 0:
        print(
            json.dumps(
                {
                    "model": out["model"],
                    "target": out["target"],
                    "test_accuracy": out["test_accuracy"],
                    "selected": out["selected"],
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
