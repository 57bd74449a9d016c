"""scikit-learn's digits: 1,797 8x8 handwritten digits (UCI optical recognition, test part).

Alpaydin & Kaynak, "Optical Recognition of Handwritten Digits", UCI ML Repository, 1998, via
``sklearn.datasets.load_digits()``. Pixel values 0..16 are mapped to uint8 as
``round(v * 255 / 16)``. Split: stratified, 20% of every class to test (1,438 / 359), seed 2020.
"""

from __future__ import annotations

import numpy as np
import tensorflow_datasets as tfds

from parc_jax.data.builders import _base


class Digits(_base.BundledArrayBuilder):
    """scikit-learn's 8x8 digits with a stratified 80/20 split."""

    name = "digits"
    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release (sklearn load_digits, stratified 80/20).",
        "1.1.0": "Images stored as raw bytes (faster reads).",
    }
    IMAGE_SHAPE = (8, 8, 1)
    CLASS_NAMES = tuple(str(d) for d in range(10))
    DESCRIPTION = (
        "1,797 8x8 digits from scikit-learn (values 0..16 scaled to 0..255); "
        "stratified split, 20% of every class to test, numpy seed 2020."
    )
    HOMEPAGE = "https://archive.ics.uci.edu/dataset/80"
    SOURCE_MODULE = "sklearn.datasets"
    SOURCE_PACKAGE = "scikit-learn"
    CITATION = (
        "@misc{alpaydin1998optical, title={Optical Recognition of Handwritten Digits}, "
        "author={Alpaydin, E. and Kaynak, C.}, howpublished={UCI Machine Learning "
        "Repository}, year={1998}}"
    )

    def load_all(self):
        from sklearn.datasets import load_digits  # pylint: disable=import-outside-toplevel

        d = load_digits()
        return np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)[..., None], d.target.astype(np.int64)
