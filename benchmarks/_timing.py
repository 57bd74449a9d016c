"""Warm timing shared by the benchmarks: the median wall time of a jitted call, compilation excluded."""

from __future__ import annotations

import statistics
import time

import jax


def median_seconds(fn, *args, repeats: int = 3):
    """(median seconds of `repeats` calls fn(*args), each until its result is ready; the first, untimed
    call's output) -- the first call compiles."""
    out = jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return statistics.median(times), out
