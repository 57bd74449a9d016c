"""The on-disk probe cache: reuse across runs, keys, atomic writes, corrupt entries."""

import os
import pathlib
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from parc_jax.extract import CorruptCacheEntryError, ProbeCache, ProbeKey, ProbeSet

REPO = pathlib.Path(__file__).resolve().parents[1]


def _probe(seed=0, n=20, d=6, z=4, labels=True):
    rng = np.random.RandomState(seed)
    logits = rng.randn(n, z)
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return ProbeSet(
        features=rng.randn(n, d).astype(np.float32),
        probs=probs.astype(np.float32),
        labels=rng.randint(0, 3, n) if labels else None,
    )


def _key(**kw):
    base = dict(model="tiny_cnn", dataset="fashion_mnist", split="train", sampler="class_balanced", seed=0, size=20)
    base.update(kw)
    return ProbeKey(**base)


def _same(a: ProbeSet, b: ProbeSet):
    np.testing.assert_array_equal(a.features, b.features)
    np.testing.assert_array_equal(a.probs, b.probs)
    if a.labels is None:
        assert b.labels is None
    else:
        np.testing.assert_array_equal(a.labels, b.labels)
        assert a.labels.dtype == b.labels.dtype


@pytest.mark.parametrize("labels", [True, False])
def test_put_get_round_trip(tmp_path, labels):
    cache = ProbeCache(tmp_path / "probes")
    probe = _probe(labels=labels)
    assert cache.get(_key()) is None and _key() not in cache
    path = cache.put(_key(), probe)
    assert path.parent == tmp_path / "probes" and path.suffix == ".npz"
    assert "tiny_cnn" in path.name and "fashion_mnist" in path.name
    _same(cache.get(_key()), probe)
    assert cache.entries() == [path]


def test_get_or_compute_reuses_across_runs(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return _probe()

    first = ProbeCache(tmp_path).get_or_compute(_key(), compute)
    second = ProbeCache(tmp_path).get_or_compute(_key(), compute)  # a new run, same dir
    assert len(calls) == 1
    _same(first, second)


@pytest.mark.parametrize(
    "change",
    [
        {"model": "resnet50"},
        {"dataset": "mnist"},
        {"split": "test"},
        {"sampler": "random"},
        {"seed": 1},
        {"size": 500},
        {"dtype": "bfloat16"},
        {"extra": {"image_size": 224}},
    ],
)
def test_every_key_field_separates_entries(tmp_path, change):
    cache = ProbeCache(tmp_path)
    other = _key(**change)
    assert cache.path(other) != cache.path(_key())
    cache.put(_key(), _probe(0))
    cache.put(other, _probe(1))
    _same(cache.get(_key()), _probe(0))
    _same(cache.get(other), _probe(1))


def test_mapping_keys_are_order_insensitive(tmp_path):
    cache = ProbeCache(tmp_path)
    a = {"model": "m", "dataset": "d", "seed": 3}
    b = {"seed": 3, "dataset": "d", "model": "m"}
    assert cache.path(a) == cache.path(b)
    cache.put(a, _probe())
    _same(cache.get(b), _probe())


def test_bad_keys_and_values(tmp_path):
    cache = ProbeCache(tmp_path)
    with pytest.raises(ValueError, match="not JSON-serialisable"):
        cache.path({"model": object()})
    with pytest.raises(ValueError, match="empty"):
        cache.path({})
    with pytest.raises(ValueError, match="only cache a ProbeSet"):
        cache.put(_key(), {"features": np.zeros((2, 2))})
    with pytest.raises(ValueError, match="on_corrupt"):
        cache.get_or_compute(_key(), _probe, on_corrupt="ignore")


def _damage_truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _damage_garbage(path):
    path.write_bytes(b"not a zip file at all")


def _damage_flip_byte(path):
    data = bytearray(path.read_bytes())
    i = data.index(b"features.npy") + 200  # inside the features' payload: CRC mismatch
    data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _damage_missing_array(path):
    np.savez(path, features=np.zeros((2, 2), np.float32))


@pytest.mark.parametrize("damage", [_damage_truncate, _damage_garbage, _damage_flip_byte, _damage_missing_array])
def test_corrupt_entry_names_the_file(tmp_path, damage):
    cache = ProbeCache(tmp_path)
    path = cache.put(_key(), _probe(n=200))
    damage(path)
    with pytest.raises(CorruptCacheEntryError) as e:
        cache.get(_key())
    msg = str(e.value)
    assert isinstance(e.value, ValueError)
    assert str(path) in msg and "delete that file" in msg and "\n" not in msg
    with pytest.raises(CorruptCacheEntryError):
        cache.get_or_compute(_key(), _probe)


def test_entry_holding_another_key_is_corrupt(tmp_path):
    cache = ProbeCache(tmp_path)
    src = cache.put(_key(seed=1), _probe(1))
    os.replace(src, cache.path(_key()))  # e.g. a file renamed by hand
    with pytest.raises(CorruptCacheEntryError, match="it holds key"):
        cache.get(_key())


def test_recompute_overwrites_corrupt_entry(tmp_path, caplog):
    cache = ProbeCache(tmp_path)
    path = cache.put(_key(), _probe(0))
    _damage_truncate(path)
    fresh = cache.get_or_compute(_key(), lambda: _probe(5), on_corrupt="recompute")
    _same(fresh, _probe(5))
    _same(cache.get(_key()), _probe(5))
    assert "corrupt" in caplog.text


def test_failed_compute_writes_nothing(tmp_path):
    cache = ProbeCache(tmp_path)

    def boom():
        raise RuntimeError("model crashed")

    with pytest.raises(RuntimeError):
        cache.get_or_compute(_key(), boom)
    assert not any(tmp_path.iterdir()) if tmp_path.exists() else True


_KILLED_WRITER = textwrap.dedent(
    """
    import os, pathlib, sys, time
    import numpy as np
    from parc_jax.extract import ProbeCache, ProbeKey, ProbeSet

    root, marker = sys.argv[1], pathlib.Path(sys.argv[2])

    def stall(fd):  # the data are in the temp file; stall before it is renamed
        marker.touch()
        time.sleep(120)

    os.fsync = stall
    n = 50_000
    probe = ProbeSet(features=np.ones((n, 64), np.float32),
                     probs=np.full((n, 10), 0.1, np.float32), labels=np.zeros(n, int))
    ProbeCache(root).put(ProbeKey("m", "d", "train", "random", 0, n), probe)
    """
)


def test_writer_killed_mid_write_leaves_no_valid_entry(tmp_path):
    root, marker = tmp_path / "cache", tmp_path / "stalled"
    key = ProbeKey("m", "d", "train", "random", 0, 50_000)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(root), str(marker)], env=env, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 600  # hang guard: the writer only has to start
        while not marker.exists():
            if child.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"writer never stalled: {child.stderr.read().decode()[-2000:]}")
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    leftovers = list(root.iterdir())
    assert leftovers and all(p.name.startswith(".") and p.suffix == ".tmp" for p in leftovers)
    assert leftovers[0].stat().st_size > 1_000_000  # the kill really came mid-write
    cache = ProbeCache(root)
    assert cache.get(key) is None and key not in cache and cache.entries() == []
    probe = cache.get_or_compute(key, lambda: _probe(n=3))
    _same(cache.get(key), probe)
