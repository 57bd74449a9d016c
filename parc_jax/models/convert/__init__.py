"""Read PyTorch checkpoints without PyTorch and map them onto the zoo's Flax variables.

* :func:`read_state_dict`: ``.safetensors``, zip-format ``.pth`` and legacy ``.pth`` -> a flat
  ``{name: np.ndarray}`` dict (wrappers such as ``{"state_dict": ...}`` and ``module.`` prefixes
  are removed).
* :func:`torch_to_flax`: that dict -> Flax variables, by name (see :mod:`.mapping`).
"""

from parc_jax.models.convert.mapping import torch_key, torch_to_flax
from parc_jax.models.convert.reader import read_state_dict
from parc_jax.models.convert.torch_pickle import load_torch_file

__all__ = ["load_torch_file", "read_state_dict", "torch_key", "torch_to_flax"]
