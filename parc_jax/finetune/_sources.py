"""Named models and datasets for fine-tuning: the zoo (`parc_jax.models`) and `parc_jax.data`.

Small targets whose split fits in ``IN_MEMORY_BYTES`` are read once into memory (an
:class:`ArraySplit`); larger ones, and datasets of varying image sizes, are read batch by batch.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib

import jax
import ml_collections
import numpy as np

from parc_jax import data, models, parallel
from parc_jax.bank import BankEntry
from parc_jax.finetune._checkpoint import RunCheckpoints
from parc_jax.finetune._finetune import Backbone, Target, finetune, hparam_tag, make_network, total_steps_for
from parc_jax.finetune._optim import make_optimizer
from parc_jax.finetune._run import read_json
from parc_jax.finetune._stream import ArraySplit
from parc_jax.finetune._trainer import Trainer

log = logging.getLogger(__name__)

IN_MEMORY_BYTES = 2 << 30


def _in_memory(split: data.Dataset):
    shape = split.image_shape
    if any(d is None for d in shape) or len(split) * int(np.prod(shape)) > IN_MEMORY_BYTES:
        return split
    batch = split.take(np.arange(len(split)))
    return ArraySplit(batch["image"], batch["label"])


def load_target(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    max_per_split: int | None = None,
    train_split: str = "train",
    test_split: str = "test",
) -> Target:
    """The train and test splits of a dataset of :func:`parc_jax.data.load`.

    Args:
      name: a built-in name (``fashion_mnist_deb``, ``mnist5k``, ``digits``), an image folder, or
        a TFDS dataset prepared in array_record format under ``data_dir`` (a path or URL).
      data_dir: where prepared datasets live.
      max_per_split: built-ins only: the first examples of every split (quick runs).
      train_split, test_split: the splits to train on and to report the accuracy on.

    Raises:
      ValueError: unknown dataset, a missing split (the message lists the splits), data
        unavailable (the message says how to get it), or fewer than 2 classes.
    """
    train = data.load(name, train_split, data_dir=data_dir, max_per_split=max_per_split)
    test = data.load(name, test_split, data_dir=data_dir, max_per_split=max_per_split)
    target = Target(
        name=name, train=_in_memory(train), test=_in_memory(test), num_classes=max(train.num_classes, test.num_classes)
    )
    target.check()
    return target


def load_backbone(
    name: str, config: ml_collections.ConfigDict, *, num_classes: int, weights_path: str | os.PathLike | None = None
) -> tuple[Backbone, models.ZooModel]:
    """A zoo model as a :class:`Backbone` for ``config.mode``.

    ``mode="scratch"`` builds the model randomly initialised from ``config.seed`` with a
    ``num_classes``-way classifier (its own head is trained); the other modes load the pretrained
    weights (or ``weights_path``) and keep the source classifier out of the way.

    Raises:
      ValueError: unknown model (the message lists the zoo) or weights not found.
    """
    if config.mode == "scratch":
        zoo = models.load(
            name, pretrained=False, weights_path=weights_path, num_classes=num_classes, rng=jax.random.key(config.seed)
        )
    else:
        zoo = models.load(name, pretrained=True, weights_path=weights_path)
    backbone = Backbone(
        name=name,
        source_dataset=zoo.info.source_dataset,
        module=zoo.module,
        variables=zoo.variables,
        preprocessing=zoo.info.preprocessing,
    )
    return backbone, zoo


def entry_backbone(entry: BankEntry, config: ml_collections.ConfigDict) -> tuple[Backbone, ml_collections.ConfigDict]:
    """A bank entry (:class:`parc_jax.bank.BankEntry`) as a :class:`Backbone`, and its config.

    The backbone is named after the entry, carries the entry's weights (pretrained, a saved file
    or a seeded random initialisation) and source dataset, and its preprocessing is the one the
    bank probes with: when the entry sets ``image_size``, fine-tuning runs at exactly that size
    (the returned config has ``image_size=0``), so the oracle and the probes see the same inputs.

    Raises:
      ValueError: ``config.mode="scratch"`` (a bank entry has weights to fine-tune) or weights
        not found.
    """
    if config.mode == "scratch":
        raise ValueError(
            f"bank entry {entry.name}: mode=scratch ignores bank weights; "
            "train from scratch with --models NAME instead of --bank"
        )
    zoo = entry.load()
    backbone = Backbone(
        name=entry.name,
        source_dataset=entry.source_dataset or zoo.info.source_dataset,
        module=zoo.module,
        variables=zoo.variables,
        preprocessing=entry.preprocessing(zoo),
    )
    if entry.image_size is not None:
        config = ml_collections.ConfigDict(config.to_dict())
        config.image_size = 0
    return backbone, config


def final_variables(
    backbone: Backbone, target: Target, config: ml_collections.ConfigDict, workdir: str | os.PathLike
) -> dict:
    """The trained ``{"params", "batch_stats"}`` of a finished ``mode="scratch"`` pair.

    Restores the last checkpoint of the reported run (``final/``, or the selected grid run).
    """
    if config.mode != "scratch":
        raise ValueError("only mode='scratch' runs produce zoo-layout weights; this run has a new head")
    workdir = pathlib.Path(workdir).absolute()
    result = read_json(workdir / "result.json")
    lr, wd = result["selected"]["learning_rate"], result["selected"]["weight_decay"]
    run_dir = workdir / "final" if result["protocol"] == "retrain" else workdir / "grid" / hparam_tag(lr, wd)
    network = make_network(backbone, target.num_classes, config)
    steps = total_steps_for(config, result["final"]["num_train"])
    trainer = Trainer(network, make_optimizer(config, lr, wd, steps), parallel.data_mesh(1))
    like = trainer.init_state(backbone.variables["params"], backbone.variables.get("batch_stats"), None)
    ckpt = RunCheckpoints(run_dir / "checkpoints")
    try:
        state, _ = ckpt.restore(ckpt.latest_step(), like)
    finally:
        ckpt.close()
    variables = {"params": jax.device_get(state.trainable["backbone"])}
    if state.batch_stats:
        variables["batch_stats"] = jax.device_get(state.batch_stats)
    return variables


def finetune_pair(
    model: str,
    dataset: str,
    config: ml_collections.ConfigDict,
    workdir: str | os.PathLike,
    *,
    data_dir: str | os.PathLike | None = None,
    weights_path: str | os.PathLike | None = None,
    export: str | os.PathLike | None = None,
    mesh=None,
    progress: bool = True,
    target: Target | None = None,
) -> dict:
    """Fine-tunes zoo model ``model`` on dataset ``dataset`` (see :func:`finetune`).

    Args:
      model, dataset: zoo and dataset names.
      config: fine-tuning config.
      workdir: the pair's directory; rerunning the same call resumes or returns the result.
      data_dir: prepared datasets.
      weights_path: load these weights instead of the zoo's.
      export: ``mode="scratch"`` only: save the trained model here with
        :func:`parc_jax.models.save_params` (``models.load(model, weights_path=export)`` then
        gives a model whose ``source_dataset`` is ``dataset``).
      mesh, progress: see :func:`finetune`.
      target: the already loaded target (saves reloading it across a bank).

    Returns:
      The pair's result dict (``test_accuracy`` in %, grid, curves, time).
    """
    if export is not None and config.mode != "scratch":
        raise ValueError("exporting saves models trained with mode='scratch'; set config.mode=scratch")
    models.get_factory(model)  # an unknown name fails here, before any data is prepared
    target = (
        load_target(dataset, data_dir=data_dir, train_split=config.train_split, test_split=config.test_split)
        if target is None
        else target
    )
    backbone, zoo = load_backbone(model, config, num_classes=target.num_classes, weights_path=weights_path)
    result = finetune(backbone, target, config, workdir, mesh=mesh, progress=progress)
    if export is not None and jax.process_index() == 0 and not os.path.isdir(export):
        variables = final_variables(backbone, target, config, workdir)
        trained = models.ZooModel(
            info=dataclasses.replace(zoo.info, source_dataset=target.name, weights=os.path.abspath(export)),
            module=zoo.module,
            variables=variables,
        )
        models.save_params(trained, export)
        log.info("saved %s trained on %s to %s", model, target.name, os.path.abspath(export))
    return result
