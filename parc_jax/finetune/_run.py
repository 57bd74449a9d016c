"""One resumable training run: a fixed (learning rate, weight decay), checkpointed with orbax.

Determinism: the batch, augmentation and dropout key of step t depend only on (seed, t), and a
checkpoint holds the whole train state and the metric history up to its step. A run killed at any
moment and started again with the same arguments restores the latest checkpoint and computes the
same steps as an uninterrupted run, so it ends with the same weights and accuracy.

Layout of ``workdir``: ``checkpoints/<step>/`` (orbax) and ``result.json``, written atomically
when the run has finished; a rerun finding ``result.json`` returns it without training.
"""

from __future__ import annotations

import json
import logging
import math
import os
import pathlib
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import tqdm

from parc_jax._io import atomic_write
from parc_jax.finetune._checkpoint import RunCheckpoints
from parc_jax.finetune._trainer import Trainer, TrainState

log = logging.getLogger(__name__)

Batches = Callable[[int], tuple[Any, np.ndarray]]
Evaluator = Callable[[TrainState], dict]


class TrainingDiverged(FloatingPointError):
    """The training loss or gradient became NaN/inf; the last good checkpoint is kept."""


def is_main_process() -> bool:
    return jax.process_index() == 0


def write_json_atomic(path: str | os.PathLike, data: Any) -> None:
    """Writes JSON to a temporary file in the same directory, then renames it over ``path``."""
    atomic_write(path, json.dumps(data, indent=1, allow_nan=False))


def read_json(path: str | os.PathLike) -> Any:
    with open(path) as f:
        return json.load(f)


def _empty_history() -> dict:
    return {
        "train": {"step": [], "loss": [], "accuracy": [], "grad_norm": []},
        "eval": {"step": [], "accuracy": [], "loss": []},
        "elapsed_s": 0.0,
    }


def train_run(
    trainer: Trainer,
    initial_state: TrainState,
    batches: Batches,
    *,
    total_steps: int,
    evaluators: dict[str, Evaluator],
    workdir: str | os.PathLike,
    log_every_steps: int,
    eval_every_steps: int,
    checkpoint_every_steps: int,
    max_to_keep: int,
    metadata: dict | None = None,
    progress: bool = True,
    write_result: bool | None = None,
    finalize: Callable[[TrainState], TrainState] | None = None,
) -> dict:
    """Trains ``total_steps`` steps with checkpoints, then evaluates on every eval set.

    Args:
      trainer: compiled steps (:class:`Trainer`).
      initial_state: the step-0 state (also the template for restoring checkpoints).
      batches: ``batches(step) -> (images, labels)`` global batch, a function of the step only.
      total_steps: optimizer steps of the run.
      evaluators: ``{name: evaluate(state) -> {"accuracy", "loss"}}``, all run at the end; the
        first one also every ``eval_every_steps`` steps (0: only at the end) for the curves.
      workdir: the run's directory (created).
      log_every_steps, checkpoint_every_steps, max_to_keep: bookkeeping.
      metadata: extra JSON-able fields copied into the result (hyperparameters, ...).
      progress: show a tqdm bar (on the writing process only).
      write_result: whether this process writes ``result.json`` and logs (default: process 0;
        when processes train different pairs on their own devices, each writes its own).
      finalize: applied to the last state before the final evaluations (e.g. BatchNorm
        recalibration); deterministic, so a resumed run gets the same result. Not checkpointed.

    Returns:
      The result dict (also ``workdir/result.json``): ``{"status": "done", "steps",
      "<eval name>": {"accuracy", "loss"}, "history", "time_s", **metadata}``.

    Raises:
      TrainingDiverged: a NaN/inf loss or gradient norm; the message names the step and the
        last good checkpoint, which is kept.
    """
    workdir = pathlib.Path(workdir).absolute()
    write_result = is_main_process() if write_result is None else write_result
    result_path = workdir / "result.json"
    if result_path.exists():
        return read_json(result_path)
    me = jax.process_index()
    process_local = jax.process_count() > 1 and all(d.process_index == me for d in trainer.mesh.devices.flat)
    ckpt = RunCheckpoints(workdir / "checkpoints", max_to_keep=max_to_keep, process_local=process_local)
    try:
        state, history = initial_state, _empty_history()
        start = ckpt.latest_step()
        if start is not None:
            state, history = ckpt.restore(start, initial_state)
            if write_result:
                log.info("resuming %s from step %d", workdir, start)
        start = start or 0
        first_eval = next(iter(evaluators), None)
        pending: list[tuple[int, dict]] = []
        t0 = time.perf_counter()
        base_elapsed = history["elapsed_s"]

        def flush(step: int) -> None:
            if not pending:
                return
            fetched = jax.device_get([m for _, m in pending])
            for (s, _), m in zip(pending, fetched):
                if not (math.isfinite(float(m["loss"])) and math.isfinite(float(m["grad_norm"]))):
                    raise TrainingDiverged(
                        f"training diverged at step {s + 1}: loss={float(m['loss'])}, "
                        f"grad_norm={float(m['grad_norm'])}; last good checkpoint: step "
                        f"{ckpt.latest_step()} in {ckpt.directory}; lower the learning rate"
                    )
            means = {k: float(np.mean([m[k] for m in fetched])) for k in ("loss", "accuracy", "grad_norm")}
            history["train"]["step"].append(step)
            for k, v in means.items():
                history["train"][k].append(v)
            pending.clear()
            bar.set_postfix(loss=f"{means['loss']:.4f}", acc=f"{means['accuracy']:.1f}")

        bar = tqdm.tqdm(
            total=total_steps,
            initial=start,
            desc=workdir.name,
            unit="step",
            disable=not (progress and write_result),
            leave=False,
            dynamic_ncols=True,
        )
        with bar:
            for step in range(start, total_steps):
                images, labels = batches(step)
                state, metrics = trainer.step(state, images, labels)
                pending.append((step, metrics))
                done = step + 1
                bar.update(1)
                if done % log_every_steps == 0 or done == total_steps:
                    flush(done)
                if first_eval and eval_every_steps and done % eval_every_steps == 0 and done < total_steps:
                    ev = evaluators[first_eval](state)
                    history["eval"]["step"].append(done)
                    history["eval"]["accuracy"].append(ev["accuracy"])
                    history["eval"]["loss"].append(ev["loss"])
                if done % checkpoint_every_steps == 0 or done == total_steps:
                    flush(done)
                    history["elapsed_s"] = base_elapsed + time.perf_counter() - t0
                    ckpt.save(done, state, history)
        flush(total_steps)
        if finalize is not None:
            state = finalize(state)
        finals = {name: evaluate(state) for name, evaluate in evaluators.items()}
        if first_eval:
            history["eval"]["step"].append(total_steps)
            history["eval"]["accuracy"].append(finals[first_eval]["accuracy"])
            history["eval"]["loss"].append(finals[first_eval]["loss"])
        elapsed = base_elapsed + time.perf_counter() - t0
        result = {
            **(metadata or {}),
            "status": "done",
            "steps": total_steps,
            **finals,
            "history": history,
            "time_s": elapsed,
        }
        if write_result:
            write_json_atomic(result_path, result)
        return result
    finally:
        ckpt.close()
