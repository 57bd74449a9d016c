"""Batched LAPACK calls of one program run one after the other (`_engine.after`): two batched Cholesky
factorisations side by side in a step of a bank's `lax.map` hang XLA:CPU on a 2-core machine."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parc_jax.estimators import _engine

TRANSRATE_BANK = """
import os
os.environ["OPENBLAS_NUM_THREADS"] = "1"
import jax, numpy as np
from parc_jax import estimators

rng = np.random.default_rng(0)
labels = np.arange(500) % 37
centres = rng.normal(size=(8, 37, 2048)).astype(np.float32)
features = centres[:, labels] + rng.normal(size=(8, 500, 2048)).astype(np.float32)
for _ in range(3):
    jax.block_until_ready(estimators.score_bank("transrate", features, labels, 37))
print("done")
"""


def test_transrate_bank_finishes():
    """TransRate factors two matrices per model (the whole set's and the classes'). Side by side in a
    bank step they hung 5 runs of 6 on the quiet 2-core VM (jaxlib 0.10; the race is timing-dependent:
    0 of 3 while another process loaded the machine). Chained by `_engine.after`, 0 of 8."""
    run = subprocess.run(
        [sys.executable, "-c", TRANSRATE_BANK], capture_output=True, text=True, timeout=300
    )  # hang guard, far above the ~5 s the run takes
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "done"


@pytest.mark.parametrize("dependency", [jnp.float32(3.0), jnp.float32(jnp.nan), (jnp.ones(3), jnp.zeros((2, 2)))])
def test_after_keeps_values_and_dtypes(dependency):
    value = {"x": jnp.arange(6.0).reshape(2, 3), "n": jnp.arange(4, dtype=jnp.int32)}
    out = jax.jit(_engine.after)(value, dependency)
    for key in value:
        assert out[key].dtype == value[key].dtype
        np.testing.assert_array_equal(out[key], value[key])
