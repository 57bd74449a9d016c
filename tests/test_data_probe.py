"""PARC probe samplers: counts, balance, determinism, the release's rule, disjointness."""

import collections
import random

import numpy as np
import pytest

from parc_jax import data


def _release_fixed_budget(labels, num_classes, probe_size, seed, min_instances_per_class=2):
    """The PARC release's FixedBudgetSampler loop (datasets.py), with its global-random seeding."""
    random.seed(seed)
    class_to_idx = collections.defaultdict(list)
    for idx, c in enumerate(labels.tolist()):
        class_to_idx[c].append(idx)
    class_to_idx = dict(class_to_idx)
    for _, v in class_to_idx.items():
        random.shuffle(v)
    class_indices = [i for i in range(num_classes) if i in class_to_idx]
    if num_classes * min_instances_per_class > probe_size:
        random.shuffle(class_indices)
        class_indices = class_indices[: probe_size // min_instances_per_class]
    sampler_list, last_len = [], None
    while last_len != len(sampler_list) and len(sampler_list) < probe_size:
        last_len = len(sampler_list)
        for i in class_indices:
            if class_to_idx[i]:
                sampler_list.append(class_to_idx[i].pop())
            if len(sampler_list) >= probe_size:
                break
    return sampler_list


def _release_balanced(labels, num_classes, per_class, seed):
    random.seed(seed)
    class_to_idx = collections.defaultdict(list)
    for idx, c in enumerate(labels.tolist()):
        class_to_idx[c].append(idx)
    for _, v in class_to_idx.items():
        random.shuffle(v)
    out = []
    for _ in range(per_class):
        for i in range(num_classes):
            if i in class_to_idx and class_to_idx[i]:
                out.append(class_to_idx[i].pop())
    return out


@pytest.fixture(scope="module")
def shuffled_labels():
    rng = np.random.default_rng(7)
    return rng.permutation(np.repeat(np.arange(10), 120))  # 1,200 labels, 10 classes


def test_parc_seeds():
    assert [data.parc_seed(r) for r in range(3)] == [2020, 5057, 8094]


def test_fixed_budget_counts_balance_and_determinism(shuffled_labels):
    idx = data.sample_probe(shuffled_labels, budget=500, seed=data.parc_seed(0))
    assert idx.shape == (500,) and len(set(idx.tolist())) == 500
    counts = np.bincount(shuffled_labels[idx], minlength=10)
    assert counts.tolist() == [50] * 10
    again = data.sample_probe(shuffled_labels, budget=500, seed=data.parc_seed(0))
    np.testing.assert_array_equal(idx, again)
    other = data.sample_probe(shuffled_labels, budget=500, seed=data.parc_seed(1))
    assert set(idx.tolist()) != set(other.tolist())


def test_uneven_budget_is_as_even_as_possible(shuffled_labels):
    idx = data.sample_probe(shuffled_labels, budget=37, seed=3)
    counts = np.bincount(shuffled_labels[idx], minlength=10)
    assert counts.sum() == 37 and counts.max() - counts.min() == 1
    assert counts[:7].tolist() == [4] * 7  # rounds go in class order: first classes get one more


def test_classes_subsampled_when_2c_exceeds_budget():
    labels = np.repeat(np.arange(300), 5)
    idx = data.sample_probe(labels, budget=500, seed=2020)
    counts = collections.Counter(labels[idx].tolist())
    assert len(idx) == 500 and len(counts) == 250 and set(counts.values()) == {2}


def test_exhausted_classes_fill_from_the_others():
    labels = np.array([0] * 3 + [1] * 100 + [2] * 100)
    idx = data.sample_probe(labels, budget=60, seed=1)
    counts = np.bincount(labels[idx])
    assert counts.tolist() == [3, 29, 28] or counts.tolist() == [3, 28, 29]
    small = data.sample_probe(labels, budget=1000, seed=1)
    assert len(small) == 203  # fewer than the budget exist: all of them


@pytest.mark.parametrize("budget,seed", [(500, 2020), (37, 5057), (20, 8094)])
def test_matches_the_release_rule(budget, seed):
    rng = np.random.default_rng(budget)
    labels = rng.integers(0, 12, size=900)
    ours = data.sample_probe(labels, budget=budget, seed=seed, num_classes=12)
    assert ours.tolist() == _release_fixed_budget(labels, 12, budget, seed)


def test_balanced_k_per_class_matches_release(shuffled_labels):
    idx = data.sample_probe(shuffled_labels, method="balanced", per_class=7, seed=11)
    assert np.bincount(shuffled_labels[idx]).tolist() == [7] * 10
    assert idx.tolist() == _release_balanced(shuffled_labels, 10, 7, 11)


def test_exclude_and_bad_input(shuffled_labels):
    held = np.arange(0, 1200, 2)
    idx = data.sample_probe(shuffled_labels, budget=100, seed=5, exclude=held)
    assert not set(idx.tolist()) & set(held.tolist())
    with pytest.raises(ValueError, match="per_class"):
        data.sample_probe(shuffled_labels, method="balanced", seed=0)
    with pytest.raises(ValueError, match="unknown probe method"):
        data.sample_probe(shuffled_labels, method="random", seed=0)
    with pytest.raises(ValueError, match="1-D integer"):
        data.sample_probe(np.zeros((3, 2), int), seed=0)
    with pytest.raises(ValueError, match="out of range"):
        data.sample_probe(np.array([0, 5]), seed=0, num_classes=3)


def test_probe_from_real_train_split_is_disjoint_from_test(tmp_path):
    train = data.load("mnist5k", "train", data_dir=tmp_path)
    test = data.load("mnist5k", "test", data_dir=tmp_path)
    idx = data.sample_probe(train.labels, budget=500, seed=data.parc_seed(2))
    assert np.bincount(train.labels[idx]).tolist() == [50] * 10
    probe = train.take(idx)["image"].reshape(len(idx), -1)
    test_images = test.take(np.arange(len(test)))["image"].reshape(len(test), -1)
    probe_set = {row.tobytes() for row in probe}
    assert not probe_set & {row.tobytes() for row in test_images}
