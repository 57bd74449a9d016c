"""Writing results safely, and the machine/date stamp recorded with them.

Every file parc_jax writes (probe caches, checkpoints' metadata, oracle tables, rankings, reports)
goes through :func:`atomic_open`: the bytes land in a temporary file in the target's directory, are
flushed and fsync'ed, and the file is renamed onto the target, so a reader (or a resumed run after a
crash) sees either the old file or the whole new one, never a torn write.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import pathlib
import platform
import tempfile
from collections.abc import Iterator
from typing import IO


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """A file opened for writing whose contents replace `path` only when the block ends cleanly.

    Args:
      path: the file to (re)place; its directory is created if needed.
      mode: "wb" (binary) or "w" (text, UTF-8).

    Yields:
      The open temporary file. On an exception it is removed and `path` is left untouched.
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_open writes with mode 'wb' or 'w', got {mode!r}")
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **({"encoding": "utf-8", "newline": ""} if mode == "w" else {})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; results are ordinary files
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where the OS allows it
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def atomic_write(path: str | os.PathLike, data: str | bytes) -> None:
    """Writes text (UTF-8) or bytes to `path` through :func:`atomic_open`."""
    with atomic_open(path, "w" if isinstance(data, str) else "wb") as handle:
        handle.write(data)


def machine_stamp() -> dict:
    """Where and when a result was measured: date (UTC), CPU, cores, load, JAX backend and devices."""
    import jax  # pylint: disable=import-outside-toplevel

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration):
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    load = None
    with contextlib.suppress(OSError, AttributeError):
        load = round(os.getloadavg()[0], 2)
    devices = jax.devices()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "load_average_1min": load,
        "python": platform.python_version(),
        "jax": jax.__version__,
        "backend": devices[0].platform,
        "device": getattr(devices[0], "device_kind", str(devices[0])),
        "num_devices": len(devices),
    }
