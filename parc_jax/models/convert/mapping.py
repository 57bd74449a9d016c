"""Map a PyTorch state dict onto Flax variables by name.

The zoo's Flax modules are named like their PyTorch counterparts, so a Flax variable path
``(collection, *modules, leaf)`` names its torch tensor ``".".join(modules) + "." + torch_leaf``:

=============  =====================  ==============================================
collection     Flax leaf              torch tensor (and layout change)
=============  =====================  ==============================================
params         ``kernel`` (4-D conv)  ``weight``, OIHW -> HWIO (``transpose(2,3,1,0)``)
params         ``kernel`` (2-D dense) ``weight``, (out, in) -> (in, out)
params         ``scale``              ``weight`` (BatchNorm / LayerNorm gamma)
params         ``bias``               ``bias``
params         anything else          same name (e.g. ViT ``cls_token``, ``pos_embed``)
batch_stats    ``mean`` / ``var``     ``running_mean`` / ``running_var``
=============  =====================  ==============================================

Depthwise convs need no special case: torch's ``(C, 1, kh, kw)`` becomes Flax's
``(kh, kw, 1, C)`` with ``feature_group_count=C``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import jax
import numpy as np

logger = logging.getLogger(__name__)

_PARAM_LEAVES = {"kernel": "weight", "scale": "weight", "bias": "bias"}
_STAT_LEAVES = {"mean": "running_mean", "var": "running_var"}
# Buffers torch keeps that have no Flax counterpart.
IGNORED_SUFFIXES = ("num_batches_tracked",)


def torch_key(path: tuple[str, ...]) -> str:
    """The torch state-dict key of the Flax variable at ``(collection, *modules, leaf)``."""
    collection, *modules, leaf = path
    table = _STAT_LEAVES if collection == "batch_stats" else _PARAM_LEAVES
    if collection not in ("params", "batch_stats"):
        raise ValueError(f"no torch counterpart for the Flax collection {collection!r}")
    name = table.get(leaf, leaf) if modules else leaf
    return ".".join([*modules, name])


def to_flax_layout(value: np.ndarray, leaf: str) -> np.ndarray:
    """Torch tensor -> Flax array layout (see the module table)."""
    if leaf == "kernel" and value.ndim == 4:
        return np.transpose(value, (2, 3, 1, 0))
    if leaf == "kernel" and value.ndim == 2:
        return value.T
    return value


def _path_names(path) -> tuple[str, ...]:
    return tuple(str(getattr(k, "key", getattr(k, "name", k))) for k in path)


def torch_to_flax(
    state_dict: Mapping[str, np.ndarray], like: Any, *, keep: Iterable[str] = (), source: str = "checkpoint"
) -> Any:
    """Builds Flax variables shaped like ``like`` from a torch state dict.

    Args:
      state_dict: torch name -> array (from :func:`parc_jax.models.convert.read_state_dict`).
      like: the target variables (``{"params": ..., "batch_stats": ...}``); arrays or
        ``jax.ShapeDtypeStruct`` leaves.
      keep: top-level Flax module names (e.g. ``"fc"``, ``"classifier.6"``) whose values are taken from ``like``
        rather than the checkpoint (a re-initialised classifier); their torch tensors are ignored.
      source: the checkpoint's name, for error messages.

    Returns:
      A pytree like ``like`` with float32 NumPy arrays (other dtypes as in ``like``).

    Raises:
      ValueError: a tensor is missing, has the wrong shape, or the checkpoint holds tensors the
        model does not use (the architecture does not match).
    """
    keep = set(keep)
    used: set[str] = set()
    missing: list[str] = []

    def convert(path, leaf):
        names = _path_names(path)
        if len(names) > 1 and names[1] in keep:
            return leaf
        key = torch_key(names)
        if key not in state_dict:
            missing.append(key)
            return leaf
        used.add(key)
        value = to_flax_layout(np.asarray(state_dict[key]), names[-1])
        if tuple(value.shape) != tuple(leaf.shape):
            raise ValueError(
                f"{source}: tensor {key} has shape {tuple(np.shape(state_dict[key]))}, the model "
                f"needs {tuple(leaf.shape)} (after layout change); wrong architecture?"
            )
        return np.asarray(value, dtype=leaf.dtype)

    out = jax.tree_util.tree_map_with_path(convert, like)
    if missing:
        raise ValueError(
            f"{source}: {len(missing)} tensors the model needs are missing, e.g. {missing[:3]}; "
            "wrong architecture or not a state dict of this model?"
        )
    unused = [
        k
        for k in state_dict
        if k not in used and not k.endswith(IGNORED_SUFFIXES) and not any(k.startswith(f"{module}.") for module in keep)
    ]
    if unused:
        raise ValueError(
            f"{source}: {len(unused)} tensors are not used by the model, e.g. {unused[:3]}; wrong architecture?"
        )
    return out
