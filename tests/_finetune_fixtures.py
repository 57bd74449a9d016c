"""Fixtures shared by the fine-tuning test modules (imported by name into each module)."""

import jax
import pytest

from parc_jax import data


@pytest.fixture(scope="module", autouse=True)
def compilation_cache(tmp_path_factory):
    """Grid points and repeated runs share programs: compile each once (as the CLI does)."""
    old = jax.config.jax_compilation_cache_dir, jax.config.jax_persistent_cache_min_compile_time_secs
    jax.config.update("jax_compilation_cache_dir", str(tmp_path_factory.mktemp("jax_cache")))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    yield
    jax.config.update("jax_compilation_cache_dir", old[0])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", old[1])


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """The digits dataset prepared once per module in a temporary data dir."""
    path = tmp_path_factory.mktemp("tfds")
    data.load("digits", "train", data_dir=path)
    return path
