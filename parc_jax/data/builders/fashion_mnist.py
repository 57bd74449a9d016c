"""Fashion-MNIST (60,000 train / 10,000 test, 28x28x1) from Debian's ``dataset-fashion-mnist``.

Xiao, Rasul & Vollgraf, "Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning
Algorithms", arXiv:1708.07747, 2017. The Debian package ships the original IDX files under
``/usr/share/datasets/fashion-mnist/``; the splits are the published ones, in file order.
"""

from __future__ import annotations

import gzip
import os
import pathlib

import numpy as np
import tensorflow_datasets as tfds

from parc_jax.data.builders import _base

DEFAULT_SOURCE_DIR = "/usr/share/datasets/fashion-mnist"
SOURCE_DIR_ENV = "PARC_JAX_FASHION_MNIST_DIR"
_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads an IDX file (optionally gzip-compressed) holding unsigned bytes.

    Format (LeCun et al., MNIST): magic ``0x00 0x00 0x08 ndim``, then ``ndim`` big-endian uint32
    sizes, then the data as uint8 in C order.

    Raises:
      ValueError: the file is not a uint8 IDX file or its size does not match its header.
    """
    path = pathlib.Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes (bad magic number)")
    ndim = raw[3]
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says shape {shape} but holds {data.size} bytes")
    return data.reshape(shape)


class FashionMnistDeb(_base.ArrayImageBuilder):
    """Fashion-MNIST from the IDX files of Debian's ``dataset-fashion-mnist`` package."""

    name = "fashion_mnist_deb"
    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {
        "1.0.0": "Initial release (Debian dataset-fashion-mnist IDX files).",
        "1.1.0": "Images stored as raw bytes (faster reads).",
    }
    IMAGE_SHAPE = (28, 28, 1)
    CLASS_NAMES = (
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    )
    DESCRIPTION = (
        "Fashion-MNIST: 70,000 28x28 grayscale images of 10 clothing classes "
        "(60,000 train / 10,000 test as published), read from Debian's "
        "dataset-fashion-mnist package."
    )
    HOMEPAGE = "https://github.com/zalandoresearch/fashion-mnist"
    CITATION = (
        "@article{xiao2017fashion, title={Fashion-MNIST: a Novel Image Dataset for "
        "Benchmarking Machine Learning Algorithms}, author={Xiao, Han and Rasul, Kashif "
        "and Vollgraf, Roland}, journal={arXiv:1708.07747}, year={2017}}"
    )

    def __init__(self, *, source_dir: str | os.PathLike | None = None, **kwargs):
        """Args: source_dir: folder with the IDX files (default ``$PARC_JAX_FASHION_MNIST_DIR``
        or ``/usr/share/datasets/fashion-mnist``); kwargs: ``tfds`` builder arguments."""
        self.source_dir = pathlib.Path(source_dir or os.environ.get(SOURCE_DIR_ENV) or DEFAULT_SOURCE_DIR)
        super().__init__(**kwargs)

    def check_source(self) -> None:
        missing = [f for pair in _FILES.values() for f in pair if not (self.source_dir / f).is_file()]
        if missing:
            raise _base.DataUnavailableError(
                f"Fashion-MNIST IDX files missing in {self.source_dir} ({', '.join(missing)}): "
                f"install them with `sudo apt-get install dataset-fashion-mnist` or point "
                f"${SOURCE_DIR_ENV} at a folder holding the four *-ubyte.gz files"
            )

    def load_arrays(self):
        out = {}
        for split, (img_file, lbl_file) in _FILES.items():
            images = read_idx(self.source_dir / img_file)
            labels = read_idx(self.source_dir / lbl_file)
            if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != images.shape[:1]:
                raise ValueError(
                    f"{self.source_dir}: unexpected IDX shapes {images.shape} / {labels.shape} for split {split!r}"
                )
            out[split] = (images[..., None], labels.astype(np.int64))
        return out
