"""The kind of machine an estimator program is built for: the platform of the devices its inputs live on.

Some kernels take a different route on a CPU than on an accelerator (row-blocked products, LEEP's
class slots, step and block sizes). The choice follows the inputs, not `jax.default_backend()`: on a
machine with a GPU, features kept on the host CPU (`jax.device_put(x, jax.devices("cpu")[0])`) get
the CPU route, and the other way round. The engine reads the platform from the concrete input array
(`of`) and builds the program inside `building_for(platform)`, which is in force while the kernel is
traced and while its static plan is prepared; the kernels ask `current()` / `is_cpu()`. Outside the
engine, and for inputs that are tracers of someone else's `jit` (whose devices are not known while
tracing), the default backend is assumed.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

import jax

_CURRENT: contextvars.ContextVar[str | None] = contextvars.ContextVar("parc_jax_platform", default=None)


def of(x) -> str:
    """The platform ("cpu", "gpu", "tpu", ...) of the devices holding x; the default backend for NumPy
    arrays (which go to the default device) and for tracers."""
    if isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer):
        return next(iter(x.devices())).platform
    return jax.default_backend()


@contextlib.contextmanager
def building_for(platform: str) -> Iterator[None]:
    """Within this block, `current()` is `platform`."""
    token = _CURRENT.set(platform)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current() -> str:
    """The platform the program being built runs on (the default backend outside `building_for`)."""
    platform = _CURRENT.get()
    return jax.default_backend() if platform is None else platform


def is_cpu() -> bool:
    """Whether the program being built runs on CPUs."""
    return current() == "cpu"


def local_devices() -> list:
    """This process's devices of the current platform."""
    return jax.local_devices(backend=current())
