"""Mesh / device helpers on the 4 fake CPU devices."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parc_jax import parallel


@pytest.mark.parametrize("k", [1, 2, 4])
def test_data_mesh_over_first_k_devices(k):
    mesh = parallel.data_mesh(k)
    assert mesh.axis_names == (parallel.DATA_AXIS,)
    assert list(mesh.devices.flat) == jax.local_devices()[:k]
    assert list(parallel.data_mesh(jax.devices()[:k]).devices.flat) == jax.devices()[:k]


def test_data_mesh_keeps_given_order():
    devs = [jax.devices()[3], jax.devices()[1]]
    assert list(parallel.data_mesh(devs).devices.flat) == devs


@pytest.mark.parametrize(
    "devices, match",
    [
        ([], "empty"),
        (0, "between 1 and 4"),
        (5, "between 1 and 4"),
        ("dup", "duplicates"),
    ],
)
def test_resolve_devices_rejects(devices, match):
    if devices == "dup":
        devices = [jax.devices()[0], jax.devices()[0]]
    with pytest.raises(ValueError, match=match):
        parallel.resolve_devices(devices)


def test_shard_batch_splits_rows_over_devices():
    mesh = parallel.data_mesh(4)
    x = np.arange(8 * 3, dtype=np.float32).reshape(8, 3)
    sx = parallel.shard_batch({"x": x}, mesh)["x"]
    shards = sorted(sx.addressable_shards, key=lambda s: s.index[0].start)
    assert [s.device for s in shards] == jax.devices()
    for i, s in enumerate(shards):
        np.testing.assert_array_equal(np.asarray(s.data), x[2 * i : 2 * i + 2])


def test_shard_batch_rejects_indivisible():
    with pytest.raises(ValueError, match="pad it to a multiple of 4"):
        parallel.shard_batch(np.zeros((6, 2)), parallel.data_mesh(4))


def test_replicate_puts_full_copy_on_every_device():
    mesh = parallel.data_mesh(4)
    tree = {"w": np.arange(6.0).reshape(2, 3), "b": np.ones(3)}
    rep = parallel.replicate(tree, mesh)
    for leaf, orig in zip(jax.tree.leaves(rep), jax.tree.leaves(tree)):
        assert len(leaf.addressable_shards) == 4
        for s in leaf.addressable_shards:
            np.testing.assert_array_equal(np.asarray(s.data), orig)


def test_jit_over_mesh_matches_plain():
    mesh = parallel.data_mesh(4)
    w = np.random.RandomState(0).randn(3, 5).astype(np.float32)
    x = np.random.RandomState(1).randn(8, 3).astype(np.float32)
    f = jax.jit(
        lambda w, x: jnp.tanh(x @ w),
        in_shardings=(parallel.replicated_sharding(mesh), parallel.batch_sharding(mesh)),
        out_shardings=parallel.batch_sharding(mesh),
    )
    out = f(parallel.replicate(w, mesh), parallel.shard_batch(x, mesh))
    assert out.sharding == parallel.batch_sharding(mesh)
    np.testing.assert_allclose(np.asarray(out), np.tanh(x @ w), rtol=1e-6, atol=1e-6)


def test_round_up():
    assert [parallel.round_up(n, 4) for n in (0, 1, 4, 5, 8)] == [0, 4, 4, 8, 8]


def test_pad_rows_and_mask():
    batch = {"x": np.arange(6).reshape(3, 2), "y": np.array([1, 2, 3])}
    padded, mask = parallel.pad_rows(batch, 5)
    np.testing.assert_array_equal(mask, [True, True, True, False, False])
    np.testing.assert_array_equal(padded["x"][:3], batch["x"])
    assert padded["x"].shape == (5, 2) and not padded["x"][3:].any()
    assert padded["y"].dtype == batch["y"].dtype
    same, mask = parallel.pad_rows(batch, 3)
    assert same["x"] is batch["x"] and mask.all()


def test_pad_rows_rejects():
    with pytest.raises(ValueError, match="more than the padded size"):
        parallel.pad_rows(np.zeros((5, 2)), 4)
    with pytest.raises(ValueError, match="different numbers of rows"):
        parallel.pad_rows({"a": np.zeros(2), "b": np.zeros(3)}, 4)


@pytest.mark.parametrize("n, k", [(0, 3), (10, 1), (10, 3), (11, 4), (2, 4)])
def test_process_slice_partitions_in_order(n, k):
    blocks = [parallel.process_slice(n, p, k) for p in range(k)]
    covered = np.concatenate([np.arange(n)[b] for b in blocks])
    np.testing.assert_array_equal(covered, np.arange(n))
    sizes = [b.stop - b.start for b in blocks]
    assert max(sizes) - min(sizes) <= 1


def test_process_slice_rejects_bad_index():
    with pytest.raises(ValueError, match="outside"):
        parallel.process_slice(10, 2, 2)


def test_allgather_rows_single_process_is_identity():
    tree = {"a": np.arange(5), "b": np.ones((5, 2), np.float32)}
    out = parallel.allgather_rows(tree)
    np.testing.assert_array_equal(out["a"], tree["a"])
    np.testing.assert_array_equal(out["b"], tree["b"])
