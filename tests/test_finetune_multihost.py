"""Multi-host fine-tuning: two local CPU processes under jax.distributed (2 devices each).

The test launches this file as a worker (``python test_finetune_multihost.py WORKER ...``).
Each worker runs the fine-tuning CLI twice on real data (scikit-learn digits, cnn_small from
scratch): once with ``split="data"`` (one pair trained on the 4 devices of both processes) and
once as a 2-model bank with ``split="pairs"`` (each process trains its own pair on its own 2
devices). A single-process run on 4 devices is the reference for the data-parallel result.
"""

import csv
import json
import os
import pathlib
import socket
import subprocess
import sys
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
HANG_GUARD_S = 900  # only stops a deadlocked run; a slow (busy) machine must not fail the test
COMMON = [
    "--config.mode=scratch",
    "--config.num_steps=20",
    "--config.learning_rates=0.1",
    "--config.batch_size=32",
    "--config.eval_batch_size=128",
    "--config.augment=False",
    "--config.log_every_steps=5",
    "--config.checkpoint_every_steps=10",
    "--no-progress",
]
BANK_MODELS = ("cnn_small", "cnn_medium")


def _worker(process_id: int, num_processes: int, port: int, data_dir: str, out_dir: str):
    import jax  # noqa: PLC0415

    if num_processes > 1:
        jax.distributed.initialize(
            coordinator_address=f"localhost:{port}",
            num_processes=num_processes,
            process_id=process_id,
            initialization_timeout=600,
        )
    from parc_jax.finetune import __main__ as cli  # noqa: PLC0415
    from parc_jax.finetune import _bank  # noqa: PLC0415

    assert jax.process_count() == num_processes and jax.device_count() == 4
    out = {"process_index": jax.process_index(), "local_devices": len(jax.local_devices())}
    work = pathlib.Path(out_dir)
    res = cli.run(
        [
            "--model",
            "cnn_small",
            "--dataset",
            "digits",
            "--workdir",
            str(work / "data"),
            "--data-dir",
            data_dir,
            *COMMON,
        ]
    )
    out["data"] = {
        "test_accuracy": res["test_accuracy"],
        "devices": res["devices"],
        "final_loss": res["final"]["history"]["train"]["loss"][-1],
    }
    if num_processes > 1:
        # Record which pairs this process trains (the real function runs).
        trained, real = [], _bank.finetune_pair

        def recording(model, dataset, *args, **kwargs):
            trained.append([model, dataset])
            return real(model, dataset, *args, **kwargs)

        _bank.finetune_pair = recording
        rows = cli.run(
            [
                "--models",
                ",".join(BANK_MODELS),
                "--targets",
                "digits",
                "--split",
                "pairs",
                "--workdir",
                str(work / "bank"),
                "--data-dir",
                data_dir,
                *COMMON,
            ]
        )
        out["pairs"] = {"trained": list(trained), "rows": rows}
        # Resume from a process-local checkpoint: drop this process's finished results (the final
        # run's step-20 checkpoint stays) and run the bank again; the result must come back the same.
        from jax.experimental import multihost_utils  # noqa: PLC0415

        multihost_utils.sync_global_devices("rows read")  # the other process has read the table
        ((model, dataset),) = trained
        pair_dir = work / "bank" / "pairs" / f"{model}__{dataset}"
        before = json.loads((pair_dir / "result.json").read_text())["test_accuracy"]
        (pair_dir / "result.json").unlink()
        (pair_dir / "final" / "result.json").unlink()
        ckpt = pair_dir / "final" / "checkpoints" / "20.msgpack"
        mtime = ckpt.stat().st_mtime_ns
        trained.clear()
        rows = cli.run(
            [
                "--models",
                ",".join(BANK_MODELS),
                "--targets",
                "digits",
                "--split",
                "pairs",
                "--workdir",
                str(work / "bank"),
                "--data-dir",
                data_dir,
                *COMMON,
            ]
        )
        after = json.loads((pair_dir / "result.json").read_text())
        out["resume"] = {
            "trained": list(trained),
            "before": before,
            "after": after["test_accuracy"],
            "rows": rows,
            "steps": after["final"]["history"]["train"]["step"],
            "checkpoint_rewritten": ckpt.stat().st_mtime_ns != mtime,
        }
    with open(work / f"process{process_id}_of{num_processes}.json", "w") as f:
        json.dump(out, f)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _launch(args, devices, log):
    env = dict(
        os.environ,
        JAX_PLATFORMS="cpu",
        PYTHONPATH=str(REPO),
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
    )
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    return subprocess.Popen(
        [sys.executable, __file__, "WORKER", *map(str, args)], env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT
    )


def test_two_processes_fine_tune_data_parallel_and_split_pairs(tmp_path):
    from parc_jax import data  # noqa: PLC0415

    data_dir = tmp_path / "tfds"
    data.load("digits", "train", data_dir=data_dir)  # prepared once, read by every worker
    port = _free_port()
    multi, single = tmp_path / "multi", tmp_path / "single"
    multi.mkdir()
    single.mkdir()
    logs = [tmp_path / f"log{i}.txt" for i in range(3)]
    procs = [_launch([i, 2, port, data_dir, multi], 2, logs[i]) for i in range(2)]
    procs.append(_launch([0, 1, 0, data_dir, single], 4, logs[2]))
    deadline = time.monotonic() + HANG_GUARD_S
    codes = None
    try:
        codes = [p.wait(timeout=max(1.0, deadline - time.monotonic())) for p in procs]
    except subprocess.TimeoutExpired:
        pass
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    if codes != [0, 0, 0]:
        names = ["process 0 of 2", "process 1 of 2", "single process"]
        text = "\n".join(f"--- {names[i]} ---\n{log.read_text()[-3000:]}" for i, log in enumerate(logs))
        raise AssertionError(f"workers failed (exit codes {codes}, None: timeout after {HANG_GUARD_S} s):\n{text}")

    results = [json.loads((multi / f"process{i}_of2.json").read_text()) for i in range(2)]
    ref = json.loads((single / "process0_of1.json").read_text())
    assert [r["process_index"] for r in results] == [0, 1]
    assert [r["local_devices"] for r in results] == [2, 2]

    # split="data": one run over the 4 devices of both processes, the same on both, written once.
    saved = json.loads((multi / "data" / "result.json").read_text())
    assert saved["devices"] == 4
    for r in results:
        assert r["data"]["devices"] == 4
        assert r["data"]["test_accuracy"] == saved["test_accuracy"]
        assert r["data"]["final_loss"] == results[0]["data"]["final_loss"]
    assert saved["test_accuracy"] > 20.0, saved["test_accuracy"]  # chance: 10
    # ... and the same global batches and mesh give the single-process 4-device result (the
    # cross-process all-reduce may sum in another order: float32 rounding only).
    assert ref["data"]["devices"] == 4
    assert results[0]["data"]["final_loss"] == pytest.approx(ref["data"]["final_loss"], rel=1e-4)
    assert abs(saved["test_accuracy"] - ref["data"]["test_accuracy"]) <= 100.0 / 359 + 1e-9

    # split="pairs": each pair trained exactly once, by process i mod 2, on its own 2 devices.
    trained = [r["pairs"]["trained"] for r in results]
    assert trained == [[[BANK_MODELS[0], "digits"]], [[BANK_MODELS[1], "digits"]]], trained
    with open(multi / "bank" / "oracle.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["Architecture"], r["Target Dataset"]) for r in rows] == [(m, "digits") for m in BANK_MODELS]
    for row in rows:
        res = json.loads((multi / "bank" / "pairs" / f"{row['Architecture']}__digits" / "result.json").read_text())
        assert res["devices"] == 2 and res["model"] == row["Architecture"]
        assert float(row["Oracle"]) == pytest.approx(res["test_accuracy"], abs=1e-4)
    for r in results:  # every process returns the whole table
        assert [row["Architecture"] for row in r["pairs"]["rows"]] == list(BANK_MODELS)
        # The rerun restored the step-20 checkpoint of the final run (no step retrained).
        assert r["resume"]["trained"] == r["pairs"]["trained"]
        assert r["resume"]["after"] == r["resume"]["before"]
        assert r["resume"]["steps"] == [5, 10, 15, 20] and not r["resume"]["checkpoint_rewritten"]
        assert r["resume"]["rows"] == r["pairs"]["rows"]


if __name__ == "__main__" and len(sys.argv) == 7 and sys.argv[1] == "WORKER":
    _worker(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6])
