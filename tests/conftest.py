"""Test configuration: 4 fake CPU devices for the parallel code, float32 everywhere."""

import os

# Must happen before the first JAX operation in the process.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pathlib  # noqa: E402

import pytest  # noqa: E402

# Reference values computed with the original releases (see tests/data/golden/README.md).
GOLDEN = pathlib.Path(__file__).resolve().parent / "data" / "golden"


@pytest.fixture(scope="session")
def golden_dir() -> pathlib.Path:
    """The golden reference values kept in the repository (tests/data/golden)."""
    return GOLDEN
