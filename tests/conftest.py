"""Test configuration: 4 fake CPU devices for the parallel code, float32 everywhere."""

import os

# Must happen before the first JAX operation in the process.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=4")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import pathlib  # noqa: E402

import pytest  # noqa: E402

# shared/ (goldens, PARC release data) lies beside the checkout; PARC_JAX_SHARED overrides.
SHARED = pathlib.Path(os.environ.get("PARC_JAX_SHARED", pathlib.Path(__file__).resolve().parents[2] / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> pathlib.Path:
    """The `shared/` folder laid beside the checkout (goldens, PARC release data)."""
    if not SHARED.is_dir():
        pytest.fail(f"expected the shared folder at {SHARED} (beside the checkout, or set PARC_JAX_SHARED)")
    return SHARED
