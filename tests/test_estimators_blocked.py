"""Blocked PARC and kNN (no N x N matrix) against the dense path: exact, ties included, 1 and 4 devices."""

import jax
import numpy as np
import pytest

from parc_jax import estimators
from parc_jax.estimators import _blocked, _engine, _knn, _parc, reference

N = 2000


def _probe(c, *, seed=0, n=N, d=48, duplicates=400, dominant=False):
    """Class-structured features with `duplicates` repeated samples (exact ties in every pair value)."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 7 == 0).astype(np.int32) if dominant else rng.integers(0, c, n).astype(np.int32)
    features = (rng.normal(size=(c, d))[labels] + 2.0 * rng.normal(size=(n, d))).astype(np.float32)
    source = rng.choice(n - duplicates, duplicates, replace=False)
    features[n - duplicates :] = features[source]
    labels[n - duplicates :] = labels[source]
    return features, labels


def _group_is_same_class(labels):
    same, different = _parc.pair_groups(labels)
    return same <= different


# C=2 with one dominant class: the different-class pairs are the smaller group; C=10, 100: same-class.
CASES = [(2, True), (10, False), (100, False)]


@pytest.mark.parametrize("n_dims", [None, 32])
@pytest.mark.parametrize("c,dominant", CASES)
def test_parc_blocked_equals_dense_with_ties(c, dominant, n_dims):
    features, labels = _probe(c, seed=c, dominant=dominant)
    assert _group_is_same_class(labels) == (not dominant)
    dense = float(estimators.parc(features, labels, c, n_dims=n_dims, method="dense"))
    blocked = float(estimators.parc(features, labels, c, n_dims=n_dims, method="blocked", block_size=192))
    assert blocked == pytest.approx(dense, abs=1e-3)
    if c == 10 and n_dims is None:  # and the float64 NumPy/SciPy reference
        assert blocked == pytest.approx(reference.parc(features, labels, c), abs=1e-3)


def test_parc_blocked_range_partition(monkeypatch):
    """A small group buffer forces several value ranges (histogram pass + one gather/search per range)."""
    c, dominant = 10, False
    features, labels = _probe(c, seed=5, dominant=dominant)
    monkeypatch.setattr(_blocked, "max_group_capacity", lambda: 2**16)
    same, different = _parc.pair_groups(labels)
    plan = _blocked.plan_parc(labels, same <= different, min(same, different), 192, _parc._capacity)
    assert plan.num_ranges > 1
    dense = float(estimators.parc(features, labels, c, method="dense"))
    blocked = float(estimators.parc(features, labels, c, method="blocked", block_size=192))
    assert blocked == pytest.approx(dense, abs=1e-3)


@pytest.mark.parametrize("k", [1, 5])
def test_knn_blocked_equals_dense_exactly(k):
    features, labels = _probe(10, seed=k, duplicates=600)
    dense = float(estimators.knn(features, labels, 10, k=k, method="dense"))
    blocked = float(estimators.knn(features, labels, 10, k=k, method="blocked", block_size=300))
    assert blocked == dense
    if k == 1:  # a duplicated sample is its copy's nearest neighbour at distance 0
        assert blocked > 30.0


def test_four_devices_give_the_numbers_of_one(monkeypatch):
    assert jax.local_device_count() == 4
    features, labels = _probe(10, seed=11)
    four_parc = float(estimators.parc(features, labels, 10, method="blocked", block_size=128))
    four_knn = float(estimators.knn(features, labels, 10, k=3, method="blocked", block_size=128))
    assert _blocked.plan_blocks(N, 128).num_devices == 4
    monkeypatch.setattr(_blocked, "_num_devices", lambda: 1)
    assert _blocked.plan_blocks(N, 128).num_devices == 1
    one_parc = float(estimators.parc(features, labels, 10, method="blocked", block_size=128))
    one_knn = float(estimators.knn(features, labels, 10, k=3, method="blocked", block_size=128))
    assert four_parc == pytest.approx(one_parc, abs=1e-5)
    assert four_knn == one_knn


@pytest.mark.parametrize("name", ["parc", "knn"])
def test_score_bank_blocked_equals_single_dense_calls(name):
    rng = np.random.default_rng(2)
    features, labels = _probe(10, seed=2, n=600, duplicates=100)
    bank = np.stack([features, features + rng.normal(size=features.shape).astype(np.float32), features[:, ::-1]])
    scores = np.asarray(estimators.score_bank(name, bank, labels, 10, method="blocked", block_size=64))
    single = [float(estimators.get(name)(x, labels, 10, method="dense")) for x in bank]
    np.testing.assert_allclose(scores, single, rtol=0, atol=1e-3 if name == "parc" else 0)


def test_group_counts_per_row_brute_force():
    labels = np.random.default_rng(0).integers(0, 5, 300)
    later = np.triu(np.ones((300, 300), bool), 1)
    same = labels[:, None] == labels[None, :]
    np.testing.assert_array_equal(_blocked.group_counts_per_row(labels, True), (later & same).sum(1))
    np.testing.assert_array_equal(_blocked.group_counts_per_row(labels, False), (later & ~same).sum(1))


def test_auto_picks_dense_for_small_probes_and_multi_hot_blocked_for_large():
    small = np.arange(_blocked.DENSE_MAX_N) % 10
    large = np.arange(_blocked.DENSE_MAX_N + 1) % 10
    _, static = _parc._prepare(small, 10, n=small.size, d=8)
    assert "plan" not in static
    _, static = _parc._prepare(large, 10, n=large.size, d=8)
    assert static["plan"].blocks.folded and static["plan"].num_ranges == 1
    multi_hot = np.eye(10, dtype=np.int32)[large]
    multi_hot[:, 0] = 1  # one or two labels per row
    _, static = _parc._prepare(multi_hot, 10, n=large.size, d=8)
    assert static["multi_label"] and "plan" not in static
    _, static = _knn._prepare(small, 10, n=small.size, d=8)
    assert static["plan"] is None
    _, static = _knn._prepare(large, 10, n=large.size, d=8)
    assert static["plan"] is not None and not static["plan"].folded


def test_parc_blocked_constant_sample_is_an_error():
    _, labels = _probe(4, n=40, d=6, duplicates=0)
    features = np.ones((40, 6), np.float32)  # every sample constant: every correlation is 0/0
    with pytest.raises(ValueError, match="undefined"):
        estimators.parc(features, labels, 4, method="blocked")


BAD = [
    ("parc", {"method": "sparse"}, "method must be"),
    ("parc", {"method": "blocked", "block_size": 0}, "block_size"),
    ("parc", {"block_size": 2.5}, "block_size"),
    ("knn", {"method": None}, "method must be"),
    ("knn", {"method": "blocked", "block_size": -3}, "block_size"),
]


@pytest.mark.parametrize("name,opts,message", BAD)
def test_bad_method_or_block_size(name, opts, message):
    features, labels = _probe(4, n=30, d=6, duplicates=0)
    before = _engine.compiled.cache_info().currsize
    with pytest.raises(ValueError, match=message):
        estimators.get(name)(features, labels, 4, **opts)
    assert _engine.compiled.cache_info().currsize == before


def test_blocked_parc_rejects_multi_hot():
    features, labels = _probe(4, n=30, d=6, duplicates=0)
    multi_hot = np.eye(4, dtype=np.int32)[labels]
    multi_hot[:, 0] = 1
    multi_hot[labels == 0, 1] = 1
    with pytest.raises(ValueError, match="method='dense'"):
        estimators.parc(features, multi_hot, 4, method="blocked")
