"""Shared by parc_controlled.py and parc_all.py: the PARC release's banks (Bolya et al., NeurIPS 2021)
read from the release's oracle tables, with the checkpoints found in a directory the user names.

Every (Architecture, Source Dataset) of the oracle table is one model. Its checkpoint is
``<models_dir>/<architecture>_<source>.pth`` (FILE_PATTERN; a torchvision-layout state dict, with or
without DataParallel's ``module.`` prefix, with a head of the source's class count), loaded into the
zoo model of that architecture (resnet50, resnet18, googlenet, alexnet, resnet101). The directory is
``$PARC_RELEASE_MODELS`` (``PARC_RELEASE_MODELS=DIR python -m parc_jax.score --bank parc_controlled ...``)
or the `models_dir` argument of `get_config`.
"""

import csv
import os
import pathlib

import ml_collections

from parc_jax import evaluation

FILE_PATTERN = "{architecture}_{source}.pth"
MODELS_DIR_VARIABLE = "PARC_RELEASE_MODELS"
ORACLES = pathlib.Path(evaluation.__file__).resolve().parent / "tables" / "parc_release"


def models(oracle_name):
    """(architecture, source) of every model of the bank, in the oracle table's order."""
    with open(ORACLES / oracle_name, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return list(dict.fromkeys((row["Architecture"], row["Source Dataset"]) for row in rows))


def bank_config(bank_name, oracle_name, models_dir=None):
    """The bank config; raises one line naming every missing checkpoint."""
    models_dir = models_dir or os.environ.get(MODELS_DIR_VARIABLE)
    if not models_dir:
        raise ValueError(
            f"bank {bank_name}: name the directory of the PARC release's checkpoints "
            f"({FILE_PATTERN.format(architecture='resnet50', source='imagenet')}, ...) with "
            f"${MODELS_DIR_VARIABLE}=DIR"
        )
    root = pathlib.Path(models_dir).expanduser().resolve()
    entries, missing = [], []
    for architecture, source in models(oracle_name):
        path = root / FILE_PATTERN.format(architecture=architecture, source=source)
        if not path.is_file():
            missing.append(path.name)
        entries.append(
            dict(
                name=f"{architecture}@{source}",
                model=architecture,
                weights=str(path),
                source_dataset=source,
                seed=0,
                image_size=None,
                depth=evaluation.RELEASE_MODEL_LAYERS[architecture],
                num_source_classes=evaluation.RELEASE_NUM_CLASSES.get(source),  # None: the checkpoint's head
            )
        )
    if missing:
        raise ValueError(
            f"bank {bank_name}: {len(missing)} of {len(entries)} checkpoints missing in {root}: " + ", ".join(missing)
        )
    config = ml_collections.ConfigDict()
    config.name = bank_name
    config.models = entries
    return config
