"""Datasets for parc_jax: offline TFDS builders, loading, preprocessing, PARC probe sampling.

```python
from parc_jax import data
ds = data.load("fashion_mnist_deb", "train")          # prepared on first use, then reused
probe = data.sample_probe(ds.labels, budget=500, seed=data.parc_seed(0))
for batch in ds.batches(128, indices=probe, preprocessing=prep): ...  # {"image" uint8, "label", "index"}
x = data.eval_transform(batch["image"], prep)           # the model's input, on the device
```

Images of any size and colour mode: a dataset whose images vary in size gives batches of one
shape once it knows the model's preprocessing (``prep``: ``input_size``, ``resize_size``, ``mean``,
``std``); see :mod:`parc_jax.data.preprocessing`.
"""

from parc_jax.data import builders
from parc_jax.data.augment import train_transform
from parc_jax.data.builders import DataUnavailableError
from parc_jax.data.dataset import Dataset
from parc_jax.data.loader import DATA_DIR_ENV, builtin_names, default_data_dir, feature_keys, get_builder, load
from parc_jax.data.preprocessing import (
    PreprocessingLike,
    eval_transform,
    normalize,
    resize_center_crop,
    square_for_crop,
    to_rgb,
)
from parc_jax.data.probe import parc_seed, sample_probe

__all__ = [
    "DATA_DIR_ENV",
    "DataUnavailableError",
    "Dataset",
    "PreprocessingLike",
    "builders",
    "builtin_names",
    "default_data_dir",
    "eval_transform",
    "feature_keys",
    "get_builder",
    "load",
    "normalize",
    "parc_seed",
    "resize_center_crop",
    "sample_probe",
    "square_for_crop",
    "to_rgb",
    "train_transform",
]
