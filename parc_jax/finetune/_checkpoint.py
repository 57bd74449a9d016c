"""Orbax checkpoints of a training run: the train state plus its history of metrics.

A checkpoint is written atomically by orbax (into a temporary directory renamed at the end), so a
process killed at any moment leaves either the previous checkpoints or the new one, never a
half-written one that would be restored; leftovers of an interrupted save are removed on restart.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

import jax
import orbax.checkpoint as ocp


class RunCheckpoints:
  """A ``CheckpointManager`` over ``directory`` for ``{"state": pytree, "history": json}``.

  Args:
    directory: absolute or relative path; made absolute (orbax requires it).
    max_to_keep: checkpoints kept on disk (older ones deleted).
    process_local: the state lives on this process's devices only (multi-host runs that split
      the pairs): this process alone writes, with no barrier across processes.
  """

  def __init__(self, directory: str | os.PathLike, *, max_to_keep: int = 2,
               process_local: bool = False):
    self.directory = pathlib.Path(directory).absolute()
    extra = {}
    if process_local:
      me = jax.process_index()
      extra["multiprocessing_options"] = ocp.options.MultiprocessingOptions(
          primary_host=me, active_processes={me})
    options = ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep, create=True, cleanup_tmp_directories=True,
        enable_async_checkpointing=False, **extra)
    self._manager = ocp.CheckpointManager(self.directory, options=options,
                                          item_names=("state", "history"))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def restore(self, step: int, state_like: Any) -> tuple[Any, dict]:
    """Restores checkpoint ``step`` with the shapes, dtypes and shardings of ``state_like``."""
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, state_like)
    restored = self._manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), history=ocp.args.JsonRestore()))
    return restored["state"], restored["history"]

  def save(self, step: int, state: Any, history: dict) -> None:
    """Saves (synchronously) and returns once the checkpoint is committed on disk."""
    self._manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), history=ocp.args.JsonSave(history)), force=True)
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()
