"""Command line: the PARC benchmark protocol end to end.

    python -m parc_jax.benchmark --config configs/benchmarks/offline.py [--config.runs=2 ...]
    python -m parc_jax.benchmark --parc-release-probes DIR --oracle FILE [--output-dir DIR]

The first form probes a bank on every target for every run (cached), scores it with every
estimator, and evaluates the scores against the oracle table of fine-tuned accuracies; the second
scores the PARC release's probe pickles instead. Both write results.csv, summary.json, report.md
and PNG plots to the output directory (:mod:`parc_jax.benchmark`). Config fields are overridden with
`--config.FIELD=VALUE` (:mod:`parc_jax._config`). Bad input prints one line on stderr and exits with
status 2.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys

from parc_jax import _config


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line (exit status 2)."""

    def error(self, message):
        self.exit(2, f"error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m parc_jax.benchmark",
        description="Run the PARC benchmark protocol: how well do transferability estimators predict "
        "fine-tuned accuracy? Config fields are set with --config.FIELD=VALUE.",
    )
    parser.add_argument(
        "--config", metavar="FILE", help="Python config file with get_config(), e.g. configs/benchmarks/offline.py"
    )
    parser.add_argument(
        "--parc-release-probes",
        metavar="DIR",
        help="score the PARC release's probe pickles under DIR instead of probing a bank",
    )
    parser.add_argument(
        "--oracle",
        metavar="FILE|NAME",
        help="oracle table of fine-tuned accuracies: a CSV file or a built-in name such as "
        "parc_controlled (sets config.oracle)",
    )
    parser.add_argument("--output-dir", metavar="DIR", help="where to write the outputs (sets config.output_dir)")
    parser.add_argument(
        "--compilation-cache",
        metavar="DIR",
        default=None,
        help="JAX's persistent compilation cache (default: $PARC_JAX_COMPILATION_CACHE or "
        "~/.cache/parc_jax/xla; 'off' disables it)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def main(argv: list[str] | None = None) -> int:
    args, rest = build_parser().parse_known_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("absl").setLevel(logging.WARNING)
    command = "python -m parc_jax.benchmark " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    # Imported after parsing: the model and data stacks are heavy, and --help should be instant.
    from parc_jax import benchmark  # pylint: disable=import-outside-toplevel

    try:
        flags = {"oracle": args.oracle, "output_dir": args.output_dir}
        config = _config.apply_overrides(
            benchmark.load_config(args.config),
            {**_config.split_overrides(rest), **{k: v for k, v in flags.items() if v is not None}},
        )
        _config.enable_compilation_cache(args.compilation_cache)
        if args.parc_release_probes:
            summary = benchmark.run_release(
                args.parc_release_probes, config, progress=not args.no_progress, command=command
            )
        else:
            summary = benchmark.run_benchmark(config, progress=not args.no_progress, command=command)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    benchmark.print_summary(summary)
    print(f"\nwrote {config.output_dir}/results.csv, summary.json, report.md and plots")
    return 0


if __name__ == "__main__":
    sys.exit(main())
