"""Multi-host extraction: two local CPU processes under jax.distributed (2 devices each).

The test launches this file twice as a worker (``python test_extract_multihost.py WORKER ...``);
each worker reads its own share of the input, and the gathered result must equal the
single-process result on every process.
"""

import os
import pathlib
import socket
import subprocess
import sys

import numpy as np

N, BATCH = 37, 4
REPO = pathlib.Path(__file__).resolve().parents[1]


def _model_and_data():
    import flax.linen as nn
    import jax

    class Small(nn.Module):
        @nn.compact
        def __call__(self, x):
            features = nn.relu(nn.Conv(8, (3, 3))(x)).mean(axis=(1, 2))
            return nn.Dense(5)(features), {"features": features}

    rng = np.random.RandomState(0)
    images = rng.rand(N, 8, 8, 3).astype(np.float32)
    labels = rng.randint(0, 3, N)
    model = Small()
    variables = jax.jit(model.init)(jax.random.key(0), images[:2])  # one compile, not one per op
    return model.apply, variables, images, labels


class RecordingArray:
    """An image array that records which rows were read (to check each process's share)."""

    def __init__(self, array):
        self.array, self.rows = array, []
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim

    def __getitem__(self, index):
        self.rows.extend(range(*index.indices(len(self.array))))
        return self.array[index]


def _worker(process_id: int, port: int, out_dir: str):
    import jax

    jax.distributed.initialize(
        coordinator_address=f"localhost:{port}",
        num_processes=2,
        process_id=process_id,
        initialization_timeout=600,
    )
    from parc_jax import parallel
    from parc_jax.extract import extract

    assert jax.process_count() == 2 and len(jax.local_devices()) == 2
    apply_fn, variables, images, labels = _model_and_data()
    out = {}
    for strategy in ("mesh", "pmap"):
        recording = RecordingArray(images)
        probe = extract(
            apply_fn, variables, recording, labels=labels, batch_size=BATCH, strategy=strategy, progress=False
        )
        out[f"{strategy}_array_features"], out[f"{strategy}_array_probs"] = probe.features, probe.probs
        out[f"{strategy}_array_labels"] = probe.labels
        out[f"{strategy}_rows_read"] = np.asarray(recording.rows)

        batches = ({"image": images[a : a + 5], "label": labels[a : a + 5]} for a in range(0, N, 5))
        probe = extract(apply_fn, variables, batches, batch_size=BATCH, strategy=strategy, progress=False)
        out[f"{strategy}_batches_features"], out[f"{strategy}_batches_labels"] = (probe.features, probe.labels)

    own = parallel.process_slice(N)  # the caller shards: input_sharded=True
    probe = extract(
        apply_fn, variables, images[own], labels=labels[own], batch_size=BATCH, input_sharded=True, progress=False
    )
    out["sharded_features"], out["sharded_labels"] = probe.features, probe.labels
    np.savez(os.path.join(out_dir, f"process{process_id}.npz"), **out)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_gather_the_single_process_result(tmp_path):
    from parc_jax.extract import extract

    env = dict(
        os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO), XLA_FLAGS="--xla_force_host_platform_device_count=2"
    )
    port = _free_port()
    logs = [tmp_path / f"log{i}.txt" for i in range(2)]
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "WORKER", str(i), str(port), str(tmp_path)],
            env=env,
            stdout=open(logs[i], "w"),
            stderr=subprocess.STDOUT,
        )
        for i in range(2)
    ]
    try:
        codes = [p.wait(timeout=900) for p in procs]  # a hang guard, not a speed limit
    except subprocess.TimeoutExpired:
        codes = None
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    if codes != [0, 0]:
        text = "\n".join(f"--- process {i} ---\n{log.read_text()[-3000:]}" for i, log in enumerate(logs))
        raise AssertionError(f"workers failed (exit codes {codes}):\n{text}")

    apply_fn, variables, images, labels = _model_and_data()
    ref = extract(apply_fn, variables, images, labels=labels, batch_size=BATCH, progress=False)
    results = [np.load(tmp_path / f"process{i}.npz") for i in range(2)]
    for res in results:
        for strategy in ("mesh", "pmap"):
            for source in ("array", "batches"):
                np.testing.assert_allclose(res[f"{strategy}_{source}_features"], ref.features, atol=1e-5, rtol=0)
                np.testing.assert_array_equal(res[f"{strategy}_{source}_labels"], labels)
            np.testing.assert_allclose(res[f"{strategy}_array_probs"], ref.probs, atol=1e-5, rtol=0)
        np.testing.assert_allclose(res["sharded_features"], ref.features, atol=1e-5, rtol=0)
        np.testing.assert_array_equal(res["sharded_labels"], labels)
    # Each process read only its own contiguous block of the array input.
    for strategy in ("mesh", "pmap"):
        np.testing.assert_array_equal(results[0][f"{strategy}_rows_read"], np.arange(0, 19))
        np.testing.assert_array_equal(results[1][f"{strategy}_rows_read"], np.arange(19, N))


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "WORKER":
    _worker(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
