"""Fine-tuning configuration: defaults, command-line overrides and validation.

A config is an ``ml_collections.ConfigDict``; config files under ``configs/finetune/`` define
``get_config()`` and usually start from :func:`default_config`. Library functions take the config
as an explicit argument and never read flags.
"""

from __future__ import annotations

import math
import os

import ml_collections

from parc_jax import _config

MODES = ("finetune", "linear_probe", "scratch")
OPTIMIZERS = ("sgd", "adamw")
FINAL_PROTOCOLS = ("retrain", "selected_run")
COMPUTE_DTYPES = ("float32", "bfloat16")


def default_config() -> ml_collections.ConfigDict:
    """The default fine-tuning recipe (SGD + momentum, warmup + cosine, 3 x 2 grid).

    Returns:
      A ConfigDict with every field the fine-tuning module reads. Fields:

      * ``mode``: ``"finetune"`` (new linear head on the pretrained backbone, all weights trained),
        ``"linear_probe"`` (new head only; backbone frozen and run in eval mode) or ``"scratch"``
        (randomly initialised model, its own classifier resized to the target is the head).
      * ``optimizer``: ``"sgd"`` (momentum, coupled L2 weight decay as in ``torch.optim.SGD``) or
        ``"adamw"`` (decoupled weight decay, Loshchilov & Hutter 2019). Weight decay applies to
        kernels only (parameters with ndim > 1), not to biases or BatchNorm scales.
      * ``learning_rates`` x ``weight_decays``: the hyperparameter grid (peak learning rates).
      * ``num_epochs`` (or ``num_steps`` > 0, which wins), ``batch_size`` (global, divisible by the
        number of devices), ``warmup_fraction`` of the steps with a linear warmup from 0, then a
        cosine decay to 0.
      * ``val_fraction``: the stratified validation split held out of train for selection;
        ``final``: ``"retrain"`` (train the selected setting again on the whole train split and
        report its test accuracy) or ``"selected_run"`` (report the test accuracy of the selected
        grid run itself, trained without the validation images).
      * ``augment``: the training augmentation of :mod:`parc_jax.data.augment` (random resized
        crop of ``augment_scale`` of the area, left-right flip if ``augment_flip``), else the
        eval preprocessing.
      * ``bn_recalibration_batches``: 0 (off), else BatchNorm running statistics are re-estimated
        with the final weights from up to this many full batches of the run's training images
        (eval preprocessing) before the final evaluations: short fine-tunings otherwise evaluate
        with statistics still dominated by the pretrained ones (BatchNorm momentum 0.99).
      * ``image_size``: 0 for the model's own input size, else a smaller/larger square size.
      * ``max_train_examples`` / ``max_test_examples``: 0 for all, else a stratified subsample.
      * ``compute_dtype``: ``"float32"`` or ``"bfloat16"`` (mixed precision: float32 master weights,
        bfloat16 forward/backward; for GPUs and TPUs).
      * ``log_every_steps``, ``eval_every_steps`` (0: only at the end), ``checkpoint_every_steps``,
        ``max_to_keep``: bookkeeping. ``seed``: data order, split, head init and dropout.
      * ``train_split`` / ``test_split``: the target's splits to train on and to report the accuracy on.
      * ``models`` / ``targets``: a bank to run when the CLI gets no --model/--bank/--targets.
    """
    c = ml_collections.ConfigDict()
    c.mode = "finetune"
    c.optimizer = "sgd"
    c.momentum = 0.9
    c.nesterov = False
    c.learning_rates = (0.1, 0.03, 0.01)
    c.weight_decays = (1e-4, 0.0)
    c.batch_size = 64
    c.eval_batch_size = 256
    c.num_epochs = 10.0
    c.num_steps = 0
    c.warmup_fraction = 0.05
    c.label_smoothing = 0.0
    c.grad_clip_norm = 0.0
    c.val_fraction = 0.2
    c.final = "retrain"
    c.seed = 0
    c.augment = True
    c.augment_scale = (0.08, 1.0)
    c.augment_flip = True
    c.bn_recalibration_batches = 0
    c.image_size = 0
    c.max_train_examples = 0
    c.max_test_examples = 0
    c.compute_dtype = "float32"
    c.log_every_steps = 50
    c.eval_every_steps = 0
    c.checkpoint_every_steps = 200
    c.max_to_keep = 2
    c.train_split = "train"
    c.test_split = "test"
    c.models = ()
    c.targets = ()
    return c


def load_config(path: str | os.PathLike | None = None) -> ml_collections.ConfigDict:
    """A fine-tuning config file laid over :func:`default_config` (see :mod:`parc_jax._config`)."""
    return _config.load_config(path, default_config())


def validate_config(config: ml_collections.ConfigDict) -> None:
    """Checks a config before any work starts.

    Raises:
      ValueError: a field out of range, naming the field and the valid values.
    """

    def _choice(key, options):
        if config[key] not in options:
            raise ValueError(f"config.{key}={config[key]!r} is not one of {', '.join(options)}")

    _choice("mode", MODES)
    _choice("optimizer", OPTIMIZERS)
    _choice("final", FINAL_PROTOCOLS)
    _choice("compute_dtype", COMPUTE_DTYPES)
    if not config.learning_rates or any(not (lr > 0 and math.isfinite(lr)) for lr in config.learning_rates):
        raise ValueError(
            f"config.learning_rates={config.learning_rates!r} must be a non-empty tuple of positive numbers"
        )
    if not config.weight_decays or any(not (wd >= 0 and math.isfinite(wd)) for wd in config.weight_decays):
        raise ValueError(f"config.weight_decays={config.weight_decays!r} must be a non-empty tuple of numbers >= 0")
    for key in ("batch_size", "eval_batch_size", "log_every_steps", "checkpoint_every_steps", "max_to_keep"):
        if int(config[key]) < 1:
            raise ValueError(f"config.{key}={config[key]!r} must be >= 1")
    for key in (
        "num_steps",
        "eval_every_steps",
        "bn_recalibration_batches",
        "image_size",
        "max_train_examples",
        "max_test_examples",
    ):
        if int(config[key]) < 0:
            raise ValueError(f"config.{key}={config[key]!r} must be >= 0 (0 means: not set)")
    if config.num_steps == 0 and not config.num_epochs > 0:
        raise ValueError(f"config.num_epochs={config.num_epochs!r} must be > 0 (or set config.num_steps)")
    if not 0.0 <= config.warmup_fraction < 1.0:
        raise ValueError(f"config.warmup_fraction={config.warmup_fraction!r} must be in [0, 1)")
    if not 0.0 < config.val_fraction < 1.0:
        raise ValueError(f"config.val_fraction={config.val_fraction!r} must be in (0, 1)")
    scale = tuple(config.augment_scale)
    if len(scale) != 2 or not 0.0 < scale[0] <= scale[1] <= 1.0:
        raise ValueError(f"config.augment_scale={scale!r} must be (min, max) with 0 < min <= max <= 1")
    if not 0.0 <= config.label_smoothing < 1.0:
        raise ValueError(f"config.label_smoothing={config.label_smoothing!r} must be in [0, 1)")
