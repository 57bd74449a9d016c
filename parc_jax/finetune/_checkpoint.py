"""Orbax checkpoints of a training run: the train state plus its history of metrics.

A checkpoint is written atomically by orbax (into a temporary directory renamed at the end), so a
process killed at any moment leaves either the previous checkpoints or the new one, never a
half-written one that would be restored; leftovers of an interrupted save are removed on restart.

Process-local runs (multi-host, ``split="pairs"``: the state lives on one process's devices)
cannot go through orbax, whose array handlers write on process 0 only: each checkpoint is then
one msgpack file ``<step>.msgpack`` (flax serialization of host copies), written atomically.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

import flax.serialization
import jax
import orbax.checkpoint as ocp

from parc_jax._io import atomic_write


class RunCheckpoints:
    """A ``CheckpointManager`` over ``directory`` for ``{"state": pytree, "history": json}``.

    Args:
      directory: absolute or relative path; made absolute (orbax requires it).
      max_to_keep: checkpoints kept on disk (older ones deleted).
      process_local: the state lives on this process's devices only (multi-host runs that split
        the pairs): this process alone writes, with no barrier across processes.
    """

    def __init__(self, directory: str | os.PathLike, *, max_to_keep: int = 2, process_local: bool = False):
        self.directory = pathlib.Path(directory).absolute()
        self._max_to_keep = max_to_keep
        self._manager = None
        if process_local:
            self.directory.mkdir(parents=True, exist_ok=True)
            for leftover in self.directory.glob(".*.tmp"):
                leftover.unlink()
            return
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True, cleanup_tmp_directories=True, enable_async_checkpointing=False
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options, item_names=("state", "history"))

    def _local_steps(self) -> list[int]:
        return sorted(int(p.stem) for p in self.directory.glob("*.msgpack") if p.stem.isdigit())

    def latest_step(self) -> int | None:
        if self._manager is None:
            steps = self._local_steps()
            return steps[-1] if steps else None
        return self._manager.latest_step()

    def restore(self, step: int, state_like: Any) -> tuple[Any, dict]:
        """Restores checkpoint ``step`` with the shapes, dtypes and shardings of ``state_like``."""
        if self._manager is None:
            saved = flax.serialization.msgpack_restore((self.directory / f"{step}.msgpack").read_bytes())
            state = flax.serialization.from_state_dict(state_like, saved["state"])
            state = jax.tree.map(lambda x, like: jax.device_put(x, like.sharding), state, state_like)
            return state, saved["history"]
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state_like)
        restored = self._manager.restore(
            step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract), history=ocp.args.JsonRestore())
        )
        return restored["state"], restored["history"]

    def save(self, step: int, state: Any, history: dict) -> None:
        """Saves (synchronously) and returns once the checkpoint is committed on disk."""
        if self._manager is None:
            blob = flax.serialization.msgpack_serialize(
                {"state": flax.serialization.to_state_dict(jax.device_get(state)), "history": history}
            )
            atomic_write(self.directory / f"{step}.msgpack", blob)
            for old in self._local_steps()[: -self._max_to_keep]:
                (self.directory / f"{old}.msgpack").unlink()
            return
        self._manager.save(
            step,
            args=ocp.args.Composite(state=ocp.args.StandardSave(state), history=ocp.args.JsonSave(history)),
            force=True,
        )
        self._manager.wait_until_finished()

    def close(self) -> None:
        if self._manager is not None:
            self._manager.close()
