"""One entry point for every checkpoint format the zoo reads."""

from __future__ import annotations

import os

import numpy as np

from parc_jax.models.convert.torch_pickle import load_torch_file

_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "module", "net")


def _read_safetensors(path: str) -> dict[str, np.ndarray]:
    try:
        from safetensors.numpy import load_file
    except ImportError as e:  # pragma: no cover - safetensors is a dependency
        raise ValueError("reading .safetensors needs the `safetensors` package: pip install safetensors") from e
    try:
        return dict(load_file(path))
    except Exception as e:  # noqa: BLE001 -- safetensors raises its own error types
        raise ValueError(f"{path}: not a readable safetensors file ({e})") from None


def normalize_state_dict(obj, path: str) -> dict[str, np.ndarray]:
    """Unwraps ``{"state_dict": ...}``-style containers and drops a common ``module.`` prefix.

    Args:
      obj: what the checkpoint holds.
      path: its name, for error messages.

    Returns:
      ``{name: np.ndarray}``.
    """
    for _ in range(3):
        if isinstance(obj, dict) and not any(isinstance(v, np.ndarray) for v in obj.values()):
            inner = [k for k in _WRAPPER_KEYS if isinstance(obj.get(k), dict)]
            if not inner:
                break
            obj = obj[inner[0]]
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: holds a {type(obj).__name__}, expected a state dict")
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, np.ndarray)}
    if not tensors:
        raise ValueError(f"{path}: no tensors found (expected a state dict)")
    if all(k.startswith("module.") for k in tensors):
        tensors = {k[len("module.") :]: v for k, v in tensors.items()}
    return tensors


def read_state_dict(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Reads a state dict from ``.safetensors`` or a ``torch.save`` file (zip or legacy).

    Args:
      path: the checkpoint. ``.safetensors`` files are recognised by their extension; everything
        else is read as a ``torch.save`` file.

    Returns:
      ``{name: np.ndarray}`` with a common ``module.`` prefix (DataParallel) removed.

    Raises:
      ValueError: unreadable, not a state dict, or contains non-tensor objects torch would need
        to run code to rebuild.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"checkpoint {path} does not exist")
    if path.endswith(".safetensors"):
        sd = _read_safetensors(path)
    else:
        sd = load_torch_file(path)
    return normalize_state_dict(sd, path)
