"""The PARC release's controlled bank: ResNet-50, ResNet-18, GoogLeNet and AlexNet, each trained on 8
sources (imagenet, nabird, oxford_pets, cub200, caltech101, stanford_dogs, voc2007, cifar10), 32 models,
as in parc_jax/evaluation/tables/parc_release/oracle_controlled.csv.

    PARC_RELEASE_MODELS=/path/to/models python -m parc_jax.benchmark --config configs/benchmarks/parc_controlled.py

Checkpoints: ``<dir>/<architecture>_<source>.pth`` (see _parc_release.py).
"""

import importlib.util
import pathlib

_PATH = pathlib.Path(__file__).with_name("_parc_release.py")
_spec = importlib.util.spec_from_file_location("parc_release_banks", _PATH)
_release = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_release)


def get_config(models_dir=None):
    return _release.bank_config("parc_controlled", "oracle_controlled.csv", models_dir)
