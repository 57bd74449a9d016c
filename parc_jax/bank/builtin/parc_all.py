"""The PARC release's "all" bank: the controlled bank's 32 models plus ResNet-101s and crowd-sourced
ResNet-50s (detectron2 detection / segmentation backbones, self-supervised ImageNet models), as in
parc_jax/evaluation/tables/parc_release/oracle_all.csv.

    PARC_RELEASE_MODELS=/path/to/models python -m parc_jax.benchmark --config ... --config.bank=parc_all

Checkpoints: ``<dir>/<architecture>_<source>.pth`` (see _parc_release.py); the heads of the
crowd-sourced models take the checkpoint's class count.
"""

import importlib.util
import pathlib

_PATH = pathlib.Path(__file__).with_name("_parc_release.py")
_spec = importlib.util.spec_from_file_location("parc_release_banks", _PATH)
_release = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_release)


def get_config(models_dir=None):
    return _release.bank_config("parc_all", "oracle_all.csv", models_dir)
