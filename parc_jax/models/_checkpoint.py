"""Save and restore zoo variables with orbax."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import jax
import numpy as np

from parc_jax._io import atomic_write

logger = logging.getLogger(__name__)

META_FILE = "parc_jax_model.json"


def _variables_of(model_or_variables: Any) -> tuple[Any, Any]:
    from parc_jax.models._zoo import ZooModel  # noqa: PLC0415 -- avoid an import cycle

    if isinstance(model_or_variables, ZooModel):
        return model_or_variables.variables, model_or_variables.info
    return model_or_variables, None


def save_params(model_or_variables: Any, path: str | os.PathLike) -> str:
    """Saves a zoo model's variables (or any variables pytree) as an orbax checkpoint.

    An existing checkpoint at ``path`` is overwritten. With a ``ZooModel``, its name, source
    dataset and class count are also written (``parc_jax_model.json`` in the checkpoint folder),
    so that ``load(name, weights_path=path)`` restores the metadata too.

    Args:
      model_or_variables: a :class:`ZooModel` or a pytree such as ``{"params": ..., ...}``.
      path: checkpoint directory (relative paths are made absolute).

    Returns:
      The absolute checkpoint path.
    """
    import orbax.checkpoint as ocp  # noqa: PLC0415 -- heavy import, only when used

    variables, info = _variables_of(model_or_variables)
    path = os.path.abspath(os.fspath(path))
    variables = jax.tree_util.tree_map(np.asarray, variables)
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(path, variables, force=True)
        ckptr.wait_until_finished()
    if info is not None:
        meta = {"name": info.name, "source_dataset": info.source_dataset, "num_source_classes": info.num_source_classes}
        atomic_write(os.path.join(path, META_FILE), json.dumps(meta))
    logger.info("saved variables to %s", path)
    return path


def restore_params(path: str | os.PathLike, like: Any = None) -> Any:
    """Restores variables saved by :func:`save_params`.

    Args:
      path: the checkpoint directory (relative paths are made absolute).
      like: a :class:`ZooModel` or variables pytree giving the structure, shapes and dtypes to
        restore into; ``None`` restores the saved tree as NumPy arrays.

    Returns:
      The variables pytree.

    Raises:
      ValueError: ``path`` is not an orbax checkpoint, or does not match ``like``.
    """
    import orbax.checkpoint as ocp  # noqa: PLC0415

    path = os.path.abspath(os.fspath(path))
    if not os.path.isdir(path):
        raise ValueError(f"no checkpoint directory at {path}")
    variables, _ = _variables_of(like) if like is not None else (None, None)
    target = None
    if variables is not None:
        target = jax.tree_util.tree_map(
            lambda x: (
                jax.ShapeDtypeStruct(np.shape(x), np.asarray(x).dtype) if not isinstance(x, jax.ShapeDtypeStruct) else x
            ),
            variables,
        )
    try:
        with ocp.StandardCheckpointer() as ckptr:
            restored = ckptr.restore(path, target)
    except Exception as e:  # noqa: BLE001 -- orbax raises many types; report one line
        raise ValueError(
            f"cannot restore {path}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        ) from None
    return restored


def read_metadata(path: str | os.PathLike) -> dict | None:
    """The metadata written by :func:`save_params` beside a ZooModel's variables, if any."""
    meta = os.path.join(os.path.abspath(os.fspath(path)), META_FILE)
    if not os.path.isfile(meta):
        return None
    with open(meta) as f:
        return json.load(f)
