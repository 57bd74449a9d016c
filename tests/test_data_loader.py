"""Loader: names, splits, errors, numpy batches, resumable training stream, generic TFDS data."""

import dataclasses
import time

import numpy as np
import pytest
import tensorflow_datasets as tfds

from parc_jax import data


@dataclasses.dataclass(frozen=True)
class Prep:
    input_size: int = 32
    resize_size: int = 36
    mean: tuple = (127.5, 127.5, 127.5)
    std: tuple = (64.0, 64.0, 64.0)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("tfds")


@pytest.fixture(scope="module")
def digits(data_dir):
    return data.load("digits", "train", data_dir=data_dir)


def test_default_data_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("PARC_JAX_DATA_DIR", str(tmp_path / "mine"))
    assert data.default_data_dir() == tmp_path / "mine"
    monkeypatch.delenv("PARC_JAX_DATA_DIR")
    monkeypatch.delenv("TFDS_DATA_DIR", raising=False)
    assert data.default_data_dir().name == "tensorflow_datasets"


def test_unknown_name_lists_builtins(data_dir):
    with pytest.raises(ValueError, match="unknown dataset 'no_such_set'.*digits, fashion_mnist_deb, mnist5k"):
        data.load("no_such_set", data_dir=data_dir)


def test_missing_split_lists_splits(data_dir, digits):
    with pytest.raises(ValueError, match="no split 'validation'; its splits are test, train"):
        data.load("digits", "validation", data_dir=data_dir)


def test_unprepared_tfds_dataset_fails_fast_without_network(tmp_path):
    start = time.monotonic()
    with pytest.raises(data.DataUnavailableError, match="tfds build cifar10 --file_format=array_record"):
        data.load("cifar10", "train", data_dir=tmp_path)
    assert time.monotonic() - start < 10


def test_batches_cover_the_split_in_order_last_smaller(digits):
    assert len(digits) == 1438 and digits.num_classes == 10
    sizes, labels, indices = [], [], []
    for b in digits.batches(500):
        assert b["image"].dtype == np.uint8 and b["image"].shape[1:] == (8, 8, 1)
        assert b["label"].dtype == np.int32
        sizes.append(len(b["label"]))
        labels.append(b["label"])
        indices.append(b["index"])
    assert sizes == [500, 500, 438]
    np.testing.assert_array_equal(np.concatenate(labels), digits.labels)
    np.testing.assert_array_equal(np.concatenate(indices), np.arange(1438))
    assert digits[5]["label"] == digits.labels[5]
    assert digits[-1]["label"] == digits.labels[-1]
    with pytest.raises(IndexError):
        digits[1438]


def test_batches_of_a_probe_with_preprocessing(digits):
    probe = data.sample_probe(digits.labels, budget=50, seed=data.parc_seed(0))
    got = list(digits.batches(32, indices=probe, preprocessing=Prep()))
    # one image size: the stored images, whatever the preprocessing (the eval transform runs on the device)
    assert [b["image"].shape for b in got] == [(32, 8, 8, 1), (18, 8, 8, 1)]
    assert got[0]["image"].dtype == np.uint8
    np.testing.assert_array_equal(np.concatenate([b["index"] for b in got]), probe)
    np.testing.assert_array_equal(got[0]["image"], digits.take(probe[:32])["image"])
    with pytest.raises(ValueError, match=r"indices must be in \[0, 1438\)"):
        digits.take([0, 5000])


class ToySquares(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """A third-party TFDS builder (not registered in this process) with uint8 Tensor images."""

    name = "toy_squares"
    VERSION = tfds.core.Version("2.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "pixels": tfds.features.Tensor(shape=(6, 6, 3), dtype=np.uint8),
                    "kind": tfds.features.ClassLabel(names=["dark", "mid", "bright"]),
                }
            ),
            supervised_keys=("pixels", "kind"),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(30), "validation": self._generate_examples(9)}

    def _generate_examples(self, n):
        for i in range(n):
            yield i, {"pixels": np.full((6, 6, 3), 40 + 80 * (i % 3), np.uint8), "kind": i % 3}


def test_any_prepared_tfds_dataset_by_name(tmp_path):
    ToySquares(data_dir=str(tmp_path)).download_and_prepare(file_format="array_record")
    ds = data.load("toy_squares", "validation", data_dir=tmp_path)
    assert ds.split_sizes == {"train": 30, "validation": 9} and ds.num_classes == 3
    assert ds.class_names == ["dark", "mid", "bright"]
    batch = ds.take(np.arange(9))
    np.testing.assert_array_equal(batch["image"][:, 0, 0, 0], 40 + 80 * batch["label"])
    with pytest.raises(ValueError, match="prepared in .*toy_squares"):
        data.load("toy_squarez", data_dir=tmp_path)


def test_tfds_name_with_config_is_not_taken_for_a_folder(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'no_such_set/cfg:1.0.0'"):
        data.load("no_such_set/cfg:1.0.0", data_dir=tmp_path)
