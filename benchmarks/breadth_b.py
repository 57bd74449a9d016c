"""Speed of GBC, TransRate, RankMe, PACTran, the linear probes and LEAD: parc_jax's `score_bank` on a bank
vs the float64 NumPy release-style references (`parc_jax.estimators.reference`), one model at a time.

Bank of M = 8 models, N = 500, D = 2048, C = 37 (`benchmarks/estimators.py`'s goal shape and random
bank). parc_jax: one untimed call (compilation), then the median of --calls timed calls of the whole
bank, each ending in `block_until_ready`; per model = that / M. NumPy: the fastest of --numpy-calls
calls on one model (the releases score one model at a time). Times on a shared machine are noisy: the
load average is printed with the results.

    python benchmarks/breadth_b.py                          # every estimator
    python benchmarks/breadth_b.py --estimators gbc rankme  # a subset
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from estimators import GOAL, make_bank  # noqa: E402

from parc_jax import estimators  # noqa: E402
from parc_jax.estimators import reference  # noqa: E402

# estimator -> options of the timed call (one lambda and sigma2 where the release takes several)
RUNS = {
    "gbc": {},
    "transrate": {},
    "rankme": {},
    "pactran_dirichlet": {},
    "pactran_gamma": {},
    "pactran_gaussian": {"lam": 1.0, "sigma2": 10.0},
    "linear_valerr": {"lam": 1.0},
    "linear_probe": {},
    "lead": {},
}


def time_estimator(name, opts, bank, labels, c, *, calls, numpy_calls):
    """(seconds per model in the bank call, seconds of one NumPy model, first-call seconds)."""
    device_bank = jax.device_put(jnp.asarray(bank))
    start = time.perf_counter()
    jax.block_until_ready(estimators.score_bank(name, device_bank, labels, c, **opts))
    first = time.perf_counter() - start
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        jax.block_until_ready(estimators.score_bank(name, device_bank, labels, c, **opts))
        times.append(time.perf_counter() - start)
    numpy_times = []
    for call in range(numpy_calls):
        start = time.perf_counter()
        reference.FUNCTIONS[name](bank[call % len(bank)], labels, c, **opts)
        numpy_times.append(time.perf_counter() - start)
    return min(times) / len(bank), min(numpy_times), first


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--estimators", nargs="+", default=list(RUNS), choices=list(RUNS))
    parser.add_argument("--calls", type=int, default=5, help="timed bank calls (fastest)")
    parser.add_argument("--numpy-calls", type=int, default=2, help="timed NumPy calls on one model (fastest)")
    args = parser.parse_args(argv)
    m, n, d, c = GOAL["M"], GOAL["N"], GOAL["D"], GOAL["C"]
    features, probs, labels = make_bank(m, n, d, c)
    print(f"bank M={m} N={n} D={d} C={c}, {jax.default_backend()}, load average {os.getloadavg()[0]:.1f}")
    print(f"{'estimator':>18} {'compile+1st':>12} {'jax/model':>11} {'numpy/model':>12} {'speed-up':>9}")
    for name in args.estimators:
        bank = probs if estimators.spec(name).input_kind == "probs" else features
        ours, theirs, first = time_estimator(
            name, RUNS[name], bank, labels, c, calls=args.calls, numpy_calls=args.numpy_calls
        )
        print(f"{name:>18} {first:>10.1f} s {ours * 1e3:>8.1f} ms {theirs * 1e3:>9.1f} ms {theirs / ours:>8.1f}x")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
