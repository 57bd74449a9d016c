"""Preemption: SIGKILL a fine-tuning run mid-way, rerun the same command, get the same result."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

from parc_jax import data

REPO = pathlib.Path(__file__).resolve().parents[1]


def _command(workdir, data_dir):
    return [
        sys.executable,
        "-m",
        "parc_jax.finetune",
        "--model",
        "cnn_small",
        "--dataset",
        "digits",
        "--workdir",
        str(workdir),
        "--data-dir",
        str(data_dir),
        "--no-progress",
        "--config.mode=scratch",
        "--config.learning_rates=0.1",
        "--config.weight_decays=0.0001",
        "--config.num_steps=80",
        "--config.batch_size=32",
        "--config.checkpoint_every_steps=5",
        "--config.log_every_steps=5",
        "--config.eval_every_steps=20",
        "--config.augment=True",
        "--config.augment_flip=False",
        "--config.augment_scale=(0.5,1.0)",
    ]


def _checkpoint_steps(workdir):
    ckpts = workdir / "final" / "checkpoints"
    return sorted(int(p.name) for p in ckpts.iterdir() if p.name.isdigit()) if ckpts.is_dir() else []


def test_sigkill_then_rerun_gives_the_uninterrupted_result(tmp_path):
    data_dir = tmp_path / "tfds"
    data.load("digits", "train", data_dir=data_dir)
    env = dict(
        os.environ,
        XLA_FLAGS="--xla_force_host_platform_device_count=4",
        JAX_PLATFORMS="cpu",
        JAX_COMPILATION_CACHE_DIR=str(tmp_path / "jax_cache"),
        PYTHONPATH=str(REPO),
    )
    ref_dir, run_dir = tmp_path / "reference", tmp_path / "killed"
    subprocess.run(
        _command(ref_dir, data_dir),
        env=env,
        check=True,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=600,
    )  # hang guard
    reference = json.loads((ref_dir / "result.json").read_text())

    proc = subprocess.Popen(
        _command(run_dir, data_dir), env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 90
    while not _checkpoint_steps(run_dir) or _checkpoint_steps(run_dir)[-1] < 15:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    killed_at = _checkpoint_steps(run_dir)[-1]
    assert killed_at < 80 and not (run_dir / "result.json").exists()

    rerun = subprocess.run(
        _command(run_dir, data_dir), env=env, cwd=REPO, capture_output=True, text=True, timeout=600
    )  # hang guard
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"from step {killed_at}" in rerun.stderr
    result = json.loads((run_dir / "result.json").read_text())
    assert result["test_accuracy"] == reference["test_accuracy"]
    assert result["final"]["test"] == reference["final"]["test"]
    for key in ("train", "eval"):
        assert result["final"]["history"][key] == reference["final"]["history"][key]
    assert result["final"]["history"]["eval"]["step"] == [20, 40, 60, 80]
