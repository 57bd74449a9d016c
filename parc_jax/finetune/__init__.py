"""Fine-tuning that produces the ground-truth accuracies of transferability benchmarks.

>>> from parc_jax import finetune
>>> config = finetune.default_config()
>>> result = finetune.finetune_pair("resnet50", "fashion_mnist_deb", config, "/tmp/ft")
>>> result["test_accuracy"]

Pieces: :func:`finetune` (grid + selection + test accuracy for one backbone and target),
:func:`train_run` (one resumable run), :class:`Trainer` (jitted data-parallel steps),
:func:`run_bank` (every (model, target) pair, oracle table), and the CLI
``python -m parc_jax.finetune``.
"""

from parc_jax.finetune._bank import run_bank, write_oracle_summary, write_oracle_table
from parc_jax.finetune._config import default_config, load_config, validate_config
from parc_jax.finetune._finetune import (
    Backbone,
    Target,
    finetune,
    hparam_tag,
    make_network,
    model_preprocessing,
    total_steps_for,
)
from parc_jax.finetune._network import Network
from parc_jax.finetune._optim import make_optimizer, make_schedule
from parc_jax.finetune._run import TrainingDiverged, train_run
from parc_jax.finetune._sources import finetune_pair, load_backbone, load_target
from parc_jax.finetune._stream import ArraySplit, TrainStream
from parc_jax.finetune._trainer import Trainer, TrainState, global_mesh

__all__ = [
    "ArraySplit",
    "Backbone",
    "Network",
    "Target",
    "Trainer",
    "TrainState",
    "TrainStream",
    "TrainingDiverged",
    "default_config",
    "finetune",
    "finetune_pair",
    "global_mesh",
    "load_backbone",
    "load_target",
    "run_bank",
    "write_oracle_summary",
    "write_oracle_table",
    "hparam_tag",
    "load_config",
    "make_network",
    "model_preprocessing",
    "make_optimizer",
    "make_schedule",
    "total_steps_for",
    "train_run",
    "validate_config",
]
