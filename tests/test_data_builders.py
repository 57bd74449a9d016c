"""Offline TFDS builders: real source data, published/stratified splits, image folders."""

import gzip
import pathlib
import subprocess
import sys
import warnings

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from parc_jax import data
from parc_jax.data import builders

FMNIST_DIR = pathlib.Path("/usr/share/datasets/fashion-mnist")
needs_fmnist = pytest.mark.skipif(
    not (FMNIST_DIR / "train-images-idx3-ubyte.gz").is_file(),
    reason="needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)",
)


# ----------------------------------------------------------------------------- Fashion-MNIST


@needs_fmnist
def test_idx_files_hold_the_published_splits():
    b = builders.FashionMnistDeb(data_dir="/nonexistent-unused")
    arrays = b.load_arrays()
    assert arrays["train"][0].shape == (60000, 28, 28, 1)
    assert arrays["test"][0].shape == (10000, 28, 28, 1)
    assert np.bincount(arrays["train"][1]).tolist() == [6000] * 10
    assert np.bincount(arrays["test"][1]).tolist() == [1000] * 10


def test_read_idx_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad.gz"
    with gzip.open(bad, "wb") as f:
        f.write(b"\x00\x00\x0d\x01" + (3).to_bytes(4, "big") + b"\x00" * 12)
    with pytest.raises(ValueError, match="magic"):
        builders.read_idx(bad)
    short = tmp_path / "short"
    short.write_bytes(b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"\x01\x02")
    with pytest.raises(ValueError, match="holds 2 bytes"):
        builders.read_idx(short)
    good = tmp_path / "good"
    good.write_bytes(b"\x00\x00\x08\x02" + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes(range(6)))
    np.testing.assert_array_equal(builders.read_idx(good), np.arange(6).reshape(2, 3))


@needs_fmnist
def test_fashion_mnist_subset_prepares_without_tensorflow_and_is_reused(tmp_path):
    code = f"""
import sys
from parc_jax import data
ds = data.load("fashion_mnist_deb", "train", data_dir={str(tmp_path)!r}, max_per_split=300)
print(len(ds), ds.split_sizes["test"], ds.num_classes, ds[0]["label"], "tensorflow" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)  # hang guard
    assert out.returncode == 0, out.stderr[-2000:]
    # first train label: ankle boot
    assert out.stdout.strip().splitlines()[-1].split() == ["300", "300", "10", "9", "False"]
    data.load("fashion_mnist_deb", "train", data_dir=tmp_path, max_per_split=300)
    files = sorted(pathlib.Path(ds_path := tmp_path / "fashion_mnist_deb").rglob("*.array_record*"))
    mtimes = [f.stat().st_mtime_ns for f in files]
    again = data.load("fashion_mnist_deb", "train", data_dir=tmp_path, max_per_split=300)
    assert [f.stat().st_mtime_ns for f in files] == mtimes and ds_path.is_dir()
    raw = builders.read_idx(FMNIST_DIR / "train-images-idx3-ubyte.gz")[:300]
    np.testing.assert_array_equal(again.take(np.arange(300))["image"][..., 0], raw)
    lab = builders.read_idx(FMNIST_DIR / "train-labels-idx1-ubyte.gz")[:300]
    np.testing.assert_array_equal(again.labels, lab)
    assert again.class_names[9] == "Ankle boot"


def test_missing_fashion_mnist_source_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PARC_JAX_FASHION_MNIST_DIR", str(tmp_path / "absent"))
    with pytest.raises(data.DataUnavailableError, match="apt-get install dataset-fashion-mnist"):
        data.load("fashion_mnist_deb", "train", data_dir=tmp_path / "dd")


# ----------------------------------------------------------------------- mnist5k and digits


def test_stratified_split_is_deterministic_disjoint_and_proportional():
    labels = np.repeat(np.arange(4), [10, 20, 31, 5])
    tr, te = builders.stratified_split(labels, test_fraction=0.2, seed=2020)
    tr2, te2 = builders.stratified_split(labels, test_fraction=0.2, seed=2020)
    np.testing.assert_array_equal(te, te2)
    assert not set(tr) & set(te) and len(tr) + len(te) == len(labels)
    assert np.bincount(labels[te]).tolist() == [2, 4, 6, 1]
    with pytest.raises(ValueError, match="test_fraction"):
        builders.stratified_split(labels, test_fraction=1.0, seed=0)


@pytest.mark.parametrize(
    "name,sizes,per_class_test",
    [
        ("mnist5k", {"train": 4000, "test": 1000}, [100] * 10),
        ("digits", {"train": 1438, "test": 359}, [36, 36, 35, 37, 36, 36, 36, 36, 35, 36]),
    ],
)
def test_small_builtins_have_documented_stratified_splits(tmp_path, name, sizes, per_class_test):
    test = data.load(name, "test", data_dir=tmp_path)
    assert test.split_sizes == sizes and test.num_classes == 10
    assert np.bincount(test.labels).tolist() == per_class_test
    train = data.load(name, "train", data_dir=tmp_path)
    img = train[0]["image"]
    assert img.dtype == np.uint8 and img.shape == train.image_shape and img.max() > 100


def test_digits_pixels_are_sklearn_scaled(tmp_path):
    from sklearn.datasets import load_digits

    d = load_digits()
    ds = data.load("digits", "train", data_dir=tmp_path)
    tr, _ = builders.stratified_split(d.target, test_fraction=0.2, seed=2020)
    np.testing.assert_array_equal(
        ds.take([0, 1])["image"][..., 0], np.rint(d.images[tr[:2]] * 255 / 16).astype(np.uint8)
    )


# ---------------------------------------------------------------------------- image folder


def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture
def photo_folder(tmp_path):
    """Real photos (scikit-image): crops of a cat, a coffee cup and a rocket; one broken file."""
    root = tmp_path / "photos"
    cat, coffee, rocket = skdata.chelsea(), skdata.coffee(), skdata.rocket()
    for i, (top, left) in enumerate([(0, 0), (20, 50), (60, 100)]):
        _save(root / "cat" / f"c{i}.jpg", cat[top : top + 200 + 10 * i, left : left + 240])
        _save(root / "coffee" / f"k{i}.png", coffee[top : top + 300, left : left + 280 + 5 * i])
    _save(root / "rocket" / "r0.jpg", rocket[:300, :300])
    _save(root / "rocket" / "r1.png", skdata.camera()[:100, :150])  # grayscale file
    (root / "cat" / "broken.jpg").write_bytes(b"\xff\xd8 this is not a jpeg")
    return root


def test_image_folder_decodes_resizes_and_skips_bad_files(photo_folder, tmp_path):
    with pytest.warns(UserWarning, match="skipped 1 undecodable"):
        ds = data.load(str(photo_folder), "train", data_dir=tmp_path / "dd", image_size=64)
    assert ds.class_names == ["cat", "coffee", "rocket"] and ds.num_classes == 3
    assert len(ds) == 8 and ds.image_shape == (64, 64, 3)
    assert np.bincount(ds.labels).tolist() == [3, 3, 2]
    batch = ds.take(np.arange(8))
    assert batch["image"].shape == (8, 64, 64, 3) and batch["image"].dtype == np.uint8
    gray = batch["image"][7]
    np.testing.assert_array_equal(gray[..., 0], gray[..., 2])  # grayscale -> RGB
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reused: no re-decoding
        again = data.load(str(photo_folder), "train", data_dir=tmp_path / "dd", image_size=64)
    assert len(again) == 8


def test_image_folder_strict_shape_skips_wrongly_shaped(tmp_path):
    root = tmp_path / "strict"
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        for i in range(3):
            _save(root / c / f"{i}.png", rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    _save(root / "b" / "odd.png", rng.integers(0, 255, (40, 32, 3), dtype=np.uint8))
    b = builders.image_folder_builder(root, data_dir=tmp_path / "dd", image_size=None, image_shape=(32, 32, 3))
    with pytest.warns(UserWarning, match="skipped 1 wrong shape"):
        b.download_and_prepare(file_format="array_record")
    assert b.skipped == {"undecodable": 0, "wrong_shape": 1}
    assert b.info.splits["train"].num_examples == 6


def test_image_folder_split_layout_and_test_fraction(tmp_path):
    rng = np.random.default_rng(1)
    root = tmp_path / "split"
    for split, n in (("train", 4), ("test", 2)):
        for c in ("x", "y"):
            for i in range(n):
                _save(root / split / c / f"{i}.png", rng.integers(0, 255, (20, 24), dtype=np.uint8))
    ds = data.load(str(root), "test", data_dir=tmp_path / "dd", image_size=16, channels=1)
    assert ds.split_sizes == {"train": 8, "test": 4} and ds.image_shape == (16, 16, 1)
    flat = tmp_path / "flat"
    for c in ("x", "y"):
        for i in range(10):
            _save(flat / c / f"{i}.png", rng.integers(0, 255, (20, 20, 3), dtype=np.uint8))
    ds = data.load(str(flat), "train", data_dir=tmp_path / "dd", image_size=16, test_fraction=0.3)
    assert ds.split_sizes == {"train": 14, "test": 6}


def test_image_folder_errors(tmp_path):
    with pytest.raises(data.DataUnavailableError, match="does not exist"):
        data.load(str(tmp_path / "nowhere"), data_dir=tmp_path / "dd")
    empty = tmp_path / "empty"
    (empty / "a").mkdir(parents=True)
    _save(empty / "b" / "0.png", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="class folder .*a is empty"):
        data.load(str(empty), data_dir=tmp_path / "dd")
    broken = tmp_path / "broken"
    _save(broken / "good" / "0.png", np.zeros((8, 8, 3), np.uint8))
    (broken / "bad").mkdir()
    (broken / "bad" / "0.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="class\\(es\\) bad have no decodable image"):
        with pytest.warns(UserWarning):
            data.load(str(broken), data_dir=tmp_path / "dd", image_size=8)


def test_image_folder_changes_are_re_prepared(tmp_path):
    root = tmp_path / "grow"
    for c in ("a", "b"):
        _save(root / c / "0.png", np.full((8, 8, 3), 10, np.uint8))
    first = data.load(str(root), data_dir=tmp_path / "dd", image_size=8)
    _save(root / "a" / "1.png", np.full((8, 8, 3), 20, np.uint8))
    second = data.load(str(root), data_dir=tmp_path / "dd", image_size=8)
    assert (len(first), len(second)) == (2, 3) and first.name == second.name
