"""Fine-tune one backbone on one target: hyperparameter grid, selection, final test accuracy.

Protocol (as for the ground truths of the transferability literature, e.g. Kornblith et al.,
"Do Better ImageNet Models Transfer Better?", CVPR 2019):

1. A stratified validation split (``config.val_fraction`` of every class, ``config.seed``) is
   held out of the target's train split.
2. Every (learning rate, weight decay) of the grid is trained on the rest of train and scored
   by its accuracy on the validation split at the end of training. The best one is selected
   (ties: the first in grid order); settings whose loss diverged are recorded and skipped.
3. ``config.final == "retrain"`` (default): the selected setting is trained again on the whole
   train split, and its test accuracy is reported. ``"selected_run"``: the test accuracy of the
   selected grid run itself is reported (no retraining; trained without the validation images).
   A grid of one setting skips steps 1-2 and trains on the whole train split directly.

Layout of ``workdir``: ``grid/lr=<lr>,wd=<wd>/`` and ``final/`` (each a resumable run, see
:func:`parc_jax.finetune.train_run`), and ``result.json`` once everything has finished.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import os
import pathlib
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from parc_jax.data import augment as augment_lib
from parc_jax.data import preprocessing as pp
from parc_jax.data.builders import stratified_split
from parc_jax.finetune._config import validate_config
from parc_jax.finetune._network import Network
from parc_jax.finetune._optim import make_optimizer
from parc_jax.finetune._run import TrainingDiverged, read_json, train_run, write_json_atomic
from parc_jax.finetune._stream import Split, TrainStream, eval_batches
from parc_jax.finetune._trainer import Trainer, TrainState, global_mesh
from parc_jax.models import Preprocessing

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Backbone:
    """A model to fine-tune.

    Attributes:
      name: model name (the ``Architecture`` column of the oracle table).
      source_dataset: what it was pretrained on (``Source Dataset`` column).
      module: Flax module, ``__call__(x, *, train) -> (logits, out)`` with ``out["features"]``.
      variables: ``{"params": ..., "batch_stats": ...}`` (batch_stats optional).
      preprocessing: the model's ``input_size``, ``resize_size``, ``mean``, ``std``
        (a :class:`parc_jax.models.Preprocessing`).
    """

    name: str
    source_dataset: str
    module: Any
    variables: dict
    preprocessing: Any


@dataclasses.dataclass
class Target:
    """A labelled target task.

    Attributes:
      name: dataset name (``Target Dataset`` column).
      train, test: the splits (a ``parc_jax.data`` dataset split or an :class:`ArraySplit`).
      num_classes: C (labels are in ``[0, C)``).
    """

    name: str
    train: Split
    test: Split
    num_classes: int

    def check(self) -> None:
        """Raises ValueError if the target cannot be trained on (empty split, labels, classes)."""
        for split_name, split in (("train", self.train), ("test", self.test)):
            labels = np.asarray(split.labels)
            if len(labels) == 0:
                raise ValueError(f"target {self.name!r}: the {split_name} split is empty")
            if labels.min() < 0 or labels.max() >= self.num_classes:
                raise ValueError(f"target {self.name!r}: {split_name} labels outside [0, {self.num_classes})")
        present = len(np.unique(self.train.labels))
        if self.num_classes < 2 or present < 2:
            raise ValueError(
                f"target {self.name!r} has {present} class(es) in its train split; "
                "fine-tuning a classifier needs at least 2"
            )


def hparam_tag(learning_rate: float, weight_decay: float) -> str:
    """Directory name of a grid point, e.g. ``lr=0.1,wd=0.0001``."""
    return f"lr={learning_rate:g},wd={weight_decay:g}"


def total_steps_for(config: ml_collections.ConfigDict, num_examples: int) -> int:
    """``config.num_steps`` if set, else ``ceil(num_epochs * N / batch_size)``."""
    if config.num_steps:
        return int(config.num_steps)
    return max(1, int(np.ceil(config.num_epochs * num_examples / config.batch_size)))


def model_preprocessing(backbone: Backbone, image_size: int) -> Preprocessing:
    """The backbone's preprocessing, at ``image_size`` px if non-zero (resize ratio kept)."""
    spec = backbone.preprocessing
    size = int(image_size) or int(spec.input_size)
    resize = max(size, int(round(size * spec.resize_size / spec.input_size)))
    return Preprocessing(size, resize, tuple(spec.mean), tuple(spec.std))


def make_network(backbone: Backbone, num_classes: int, config: ml_collections.ConfigDict) -> Network:
    """The :class:`Network` of ``config.mode`` for ``backbone`` on a C-class target."""
    spec = model_preprocessing(backbone, config.image_size)
    return Network(
        backbone.module,
        functools.partial(pp.eval_transform, preprocessing=spec),
        num_classes,
        new_head=config.mode != "scratch",
        linear_probe=config.mode == "linear_probe",
        compute_dtype=jnp.dtype(config.compute_dtype),
    )


def make_transform(backbone: Backbone, config: ml_collections.ConfigDict):
    """The training-batch transform: augmentation (or None: raw images, eval preprocessing)."""
    if not config.augment:
        return None
    spec = model_preprocessing(backbone, config.image_size)
    scale = tuple(float(v) for v in config.augment_scale)
    return lambda images, step: augment_lib.train_transform(
        images, spec, seed=config.seed, step=step, scale=scale, flip=config.augment_flip
    )


def _subsample(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    if not size or size >= len(labels):
        return np.arange(len(labels))
    return stratified_split(labels, test_fraction=size / len(labels), seed=seed)[1]


def check_workdir(workdir: str | os.PathLike) -> pathlib.Path:
    """Creates ``workdir`` and checks that it is writable; returns its absolute path."""
    path = pathlib.Path(workdir).absolute()
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write_test_{os.getpid()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as err:
        raise ValueError(
            f"workdir {str(path)!r} is not writable ({err.strerror}); pass a directory you can write to"
        ) from None
    return path


def finetune(
    backbone: Backbone,
    target: Target,
    config: ml_collections.ConfigDict,
    workdir: str | os.PathLike,
    *,
    mesh: jax.sharding.Mesh | None = None,
    progress: bool = True,
) -> dict:
    """Runs the grid, selects on validation, and reports test accuracy (module docstring).

    Args:
      backbone: the model (pretrained, or freshly initialised for ``mode="scratch"``).
      target: the target data.
      config: see :func:`parc_jax.finetune.default_config`.
      workdir: directory of this (model, target) pair; rerunning resumes it.
      mesh: 1-D ``("data",)`` mesh; default: every device (:func:`global_mesh`).
      progress: tqdm bars (on the mesh's first process only).

    Returns:
      The pair's result (also ``workdir/result.json``): ``model``, ``source_dataset``,
      ``target``, ``mode``, ``test_accuracy`` (%), ``selected`` (learning rate, weight decay),
      ``grid`` (per setting: validation accuracy, status, time), ``final`` (the reported run:
      curves, time), ``num_train``/``num_val``/``num_test``, ``config`` and ``time_s``.

    Raises:
      ValueError: bad config, target or workdir.
      TrainingDiverged: every grid setting, or the final retraining, diverged.
    """
    validate_config(config)
    target.check()
    workdir = check_workdir(workdir)
    result_path = workdir / "result.json"
    if result_path.exists():
        return read_json(result_path)
    mesh = global_mesh() if mesh is None else mesh
    lead = mesh.devices.flat[0].process_index == jax.process_index()
    for key in ("batch_size", "eval_batch_size"):
        if config[key] % mesh.size:
            raise ValueError(
                f"config.{key}={config[key]} is not a multiple of the {mesh.size} devices; "
                f"use a multiple of {mesh.size}"
            )
    train_labels = np.asarray(target.train.labels)
    train_idx = _subsample(train_labels, config.max_train_examples, config.seed)
    test_idx = _subsample(np.asarray(target.test.labels), config.max_test_examples, config.seed)
    network = make_network(backbone, target.num_classes, config)
    transform = make_transform(backbone, config)
    spec = model_preprocessing(backbone, config.image_size)
    head = None
    if network.new_head:
        head = network.init_head(network.feature_dim(backbone.variables, spec.input_size))
    grid = list(itertools.product(config.learning_rates, config.weight_decays))

    def evaluator(trainer: Trainer, split: Split, indices: np.ndarray):
        def evaluate(state: TrainState) -> dict:
            return trainer.evaluate(
                state, eval_batches(split, indices, config.eval_batch_size, preprocessing=spec), config.eval_batch_size
            )

        return evaluate

    def run(lr, wd, fit_idx, eval_sets, run_dir):
        steps = total_steps_for(config, len(fit_idx))
        trainer = Trainer(
            network,
            make_optimizer(config, lr, wd, steps),
            mesh,
            label_smoothing=config.label_smoothing,
            seed=config.seed,
        )
        state = trainer.init_state(backbone.variables["params"], backbone.variables.get("batch_stats"), head)
        stream = TrainStream(
            target.train, config.batch_size, config.seed, indices=fit_idx, transform=transform, preprocessing=spec
        )
        finalize = None
        size = config.batch_size
        count = min(len(fit_idx) // size, config.bn_recalibration_batches) * size
        if count and not network.linear_probe:
            # The first full batches of the run's training images, eval preprocessing.
            finalize = lambda state: trainer.recalibrate_batch_stats(
                state, eval_batches(target.train, fit_idx[:count], size, preprocessing=spec)
            )
        return train_run(
            trainer,
            state,
            stream,
            total_steps=steps,
            evaluators={name: evaluator(trainer, split, idx) for name, (split, idx) in eval_sets.items()},
            workdir=run_dir,
            log_every_steps=config.log_every_steps,
            eval_every_steps=config.eval_every_steps,
            checkpoint_every_steps=config.checkpoint_every_steps,
            max_to_keep=config.max_to_keep,
            metadata={"learning_rate": lr, "weight_decay": wd, "num_train": int(len(fit_idx))},
            progress=progress,
            write_result=lead,
            finalize=finalize,
        )

    t0 = time.perf_counter()
    grid_rows = []
    num_val = 0
    test_set = {"test": (target.test, test_idx)}
    if len(grid) > 1:
        fit_pos, val_pos = stratified_split(
            train_labels[train_idx], test_fraction=config.val_fraction, seed=config.seed
        )
        num_val = len(val_pos)
        eval_sets = {"val": (target.train, train_idx[val_pos])}
        if config.final == "selected_run":
            eval_sets.update(test_set)
        for lr, wd in grid:
            run_dir = workdir / "grid" / hparam_tag(lr, wd)
            try:
                res = run(lr, wd, train_idx[fit_pos], eval_sets, run_dir)
            except TrainingDiverged as err:
                log.warning("%s: %s", hparam_tag(lr, wd), err)
                res = {"status": "diverged", "message": str(err), "learning_rate": lr, "weight_decay": wd}
                if lead:
                    write_json_atomic(run_dir / "result.json", res)
            grid_rows.append(
                {
                    "learning_rate": lr,
                    "weight_decay": wd,
                    "status": res["status"],
                    "val_accuracy": res["val"]["accuracy"] if res["status"] == "done" else None,
                    "time_s": res.get("time_s"),
                }
            )
        done = [r for r in grid_rows if r["status"] == "done"]
        if not done:
            raise TrainingDiverged(
                f"every grid setting diverged for {backbone.name} on {target.name}; lower config.learning_rates"
            )
        best = max(done, key=lambda r: r["val_accuracy"])  # max keeps the first of equal values
        lr, wd = best["learning_rate"], best["weight_decay"]
    else:
        ((lr, wd),) = grid
    retrain = len(grid) == 1 or config.final == "retrain"
    if retrain:
        final = run(lr, wd, train_idx, test_set, workdir / "final")
    else:
        final = read_json(workdir / "grid" / hparam_tag(lr, wd) / "result.json")
    result = {
        "model": backbone.name,
        "source_dataset": backbone.source_dataset,
        "target": target.name,
        "mode": config.mode,
        "test_accuracy": final["test"]["accuracy"],
        "selected": {"learning_rate": lr, "weight_decay": wd},
        "protocol": "retrain" if retrain else "selected_run",
        "grid": grid_rows,
        "final": final,
        "num_train": int(len(train_idx)),
        "num_val": int(num_val),
        "num_test": int(len(test_idx)),
        "num_classes": int(target.num_classes),
        "input_size": int(spec.input_size),
        "devices": int(mesh.size),
        "config": config.to_dict(),
        "time_s": sum(r["time_s"] or 0.0 for r in grid_rows) + (final["time_s"] if retrain else 0.0),
        "wall_s_this_session": time.perf_counter() - t0,
    }
    if lead:
        write_json_atomic(result_path, result)
    return result
