"""Real TFDS layouts end to end: datasets prepared by TFDS's own registered builders, read without TensorFlow.

The fixtures (tests/fixtures/tfds*, made once by tests/fixtures/make_tfds_fixtures.py) are tiny copies of
oxford_iiit_pet (varying sizes, a grayscale JPEG, extra image features), dtd (no supervised_keys), cifar10 (an
extra text feature), places365_small (three supervised keys) and a custom builder with JPEGs and PNGs of many
sizes in grayscale, CMYK, RGBA and palette modes under a label feature named ``category``. Score, fine-tune and
benchmark run on them as a user would run them.
"""

from __future__ import annotations

import csv
import json
import pathlib
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds

from parc_jax import bank, data, finetune, models, score
from parc_jax.bank import _probing
from parc_jax.benchmark import __main__ as benchmark_cli
from parc_jax.finetune._sources import entry_backbone
from parc_jax.finetune._stream import eval_batches

FIXTURES = pathlib.Path(__file__).resolve().parent / "fixtures"
PREP = models.Preprocessing(32, 40, (127.5, 127.5, 127.5), (64.0, 64.0, 64.0))
# name: (splits and sizes, classes, stored image shape)
DATASETS = {
    "oxford_iiit_pet": ({"train": 12, "test": 6}, 37, (None, None, 3)),
    "dtd": ({"train": 12, "test": 3, "validation": 3}, 47, (None, None, 3)),
    "cifar10": ({"train": 20, "test": 10}, 10, (32, 32, 3)),
    "places365_small": ({"train": 9, "test": 2, "validation": 3}, 365, (256, 256, 3)),
    "parc_varied_images": ({"train": 12, "test": 6}, 3, (None, None, 3)),
}
WEIGHTED = "cnn_small@mnist5k,resnet_tiny@digits"  # built-in bank entries: the project's own trained weights


@pytest.fixture(scope="module")
def fixture_dirs(tmp_path_factory) -> pathlib.Path:
    """A copy of the fixtures (reading writes label caches beside the data)."""
    root = tmp_path_factory.mktemp("fixtures")
    for folder in ("tfds", "tfds_tfrecord", "tfds_converted"):
        shutil.copytree(FIXTURES / folder, root / folder)
    return root


@pytest.fixture(scope="module")
def tfds_dir(fixture_dirs) -> pathlib.Path:
    return fixture_dirs / "tfds"


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_registered_builders_datasets_read_at_any_size(tfds_dir, name):
    splits, num_classes, shape = DATASETS[name]
    ds = data.load(name, "train", data_dir=tfds_dir)
    assert ds.split_sizes == splits and ds.num_classes == num_classes and ds.image_shape == shape
    assert len(np.unique(ds.labels)) == (10 if name == "cifar10" else 3) and ds.labels.min() >= 0
    batch = ds.take(np.arange(len(ds)), preprocessing=PREP)
    square = (PREP.resize_size, PREP.resize_size) if ds.varying_sizes else shape[:2]
    assert batch["image"].shape == (len(ds), *square, 3) and batch["image"].dtype == np.uint8
    np.testing.assert_array_equal(batch["label"], ds.labels)
    if ds.varying_sizes:
        assert len({ds[i]["image"].shape for i in range(len(ds))}) > 3
        with pytest.raises(ValueError, match="images of different sizes"):
            ds.take([0, 1])


def test_feature_keys_from_two_or_three_supervised_keys_or_the_features(tfds_dir):
    keys = {name: data.feature_keys(data.get_builder(name, data_dir=tfds_dir).info) for name in DATASETS}
    assert keys["places365_small"] == ("image", "label")  # ("image", "label", "filename")
    assert keys["dtd"] == ("image", "label")  # no supervised_keys
    assert keys["parc_varied_images"] == ("image", "category")  # the only ClassLabel
    info = data.get_builder("oxford_iiit_pet", data_dir=tfds_dir).info
    assert data.feature_keys(info, label_key="species") == ("image", "species")
    species = data.load("oxford_iiit_pet", "test", data_dir=tfds_dir, label_key="species")
    assert species.num_classes == 2 and species.class_names == ["Cat", "Dog"]
    with pytest.raises(ValueError, match="no feature 'breed'; its features are file_name, head_bbox, image"):
        data.feature_keys(info, label_key="breed")


def test_every_colour_mode_comes_out_rgb_with_its_colours(tfds_dir):
    """Grayscale, CMYK, RGBA and palette images: 3 channels, and each picture keeps its class's hue."""
    ds = data.load("parc_varied_images", "train", data_dir=tfds_dir)
    gray = 0
    for i in range(len(ds)):
        ex = ds[i]
        assert ex["image"].ndim == 3 and ex["image"].shape[-1] == 3
        colour = ex["image"].reshape(-1, 3).mean(0)
        if np.ptp(ex["image"], axis=-1).max() == 0:
            gray += 1
        else:
            assert np.argmax(colour) == ex["label"], (i, colour)  # red, green, blue pictures
    assert gray == 1  # the grayscale JPEG, and only it (a palette PNG read as indices would be a second)


def test_missing_split_names_the_splits(tfds_dir):
    with pytest.raises(ValueError, match="'dtd' has no split 'val'; its splits are test, train, validation"):
        data.load("dtd", "val", data_dir=tfds_dir)


def test_tfrecord_dataset_error_gives_the_command_that_converts_it(fixture_dirs):
    version_dir = fixture_dirs / "tfds_tfrecord" / "parc_varied_images" / "1.0.0"
    with pytest.raises(ValueError) as err:
        data.load("parc_varied_images", data_dir=fixture_dirs / "tfds_tfrecord")
    # The command the fixture script ran to make tfds_converted/ (tests/fixtures/make_tfds_fixtures.py).
    assert f"`tfds convert_format --dataset_version_dir={version_dir} --out_file_format=array_record`" in str(err.value)
    assert "\n" not in str(err.value)


def test_dataset_converted_in_place_reads_as_the_array_record_one(fixture_dirs, tfds_dir):
    converted = data.load("parc_varied_images", "test", data_dir=fixture_dirs / "tfds_converted")
    info = tfds.builder_from_directory(str(fixture_dirs / "tfds_converted" / "parc_varied_images" / "1.0.0")).info
    assert info.file_format.value == "tfrecord"  # array_record is an alternative format only
    direct = data.load("parc_varied_images", "test", data_dir=tfds_dir)
    a, b = converted.take(np.arange(6), preprocessing=PREP), direct.take(np.arange(6), preprocessing=PREP)
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["label"], b["label"])


def test_data_dir_urls_reach_tfds_unchanged(monkeypatch):
    seen = []

    def builder(name, *, data_dir):
        seen.append(data_dir)
        raise RuntimeError("stop")

    monkeypatch.setattr(tfds, "builder", builder)
    for url in ("gs://my-bucket/tfds", "s3://bucket/a/b"):
        with pytest.raises(RuntimeError):
            data.load("oxford_iiit_pet", data_dir=url)
    monkeypatch.setenv(data.DATA_DIR_ENV, "gs://my-bucket/env")
    with pytest.raises(RuntimeError):
        data.load("oxford_iiit_pet")
    assert seen == ["gs://my-bucket/tfds", "s3://bucket/a/b", "gs://my-bucket/env"]


def test_host_square_then_eval_transform_is_the_eval_transform_of_the_image():
    """square_for_crop keeps exactly the eval crop: the device result on the square equals it on the image."""
    rng = np.random.default_rng(0)
    for h, w in [(61, 37), (35, 78), (40, 40), (120, 41), (17, 200), (300, 451)]:
        yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        img = np.stack([(yy * 255 // h), (xx * 255 // w), (yy + xx) % 256], -1).astype(np.uint8)
        img = np.clip(img + rng.integers(-20, 20, img.shape), 0, 255).astype(np.uint8)
        direct = np.asarray(data.eval_transform(img[None], PREP))
        square = data.square_for_crop(img, PREP)
        assert square.shape == (PREP.resize_size, PREP.resize_size, 3)
        via_host = np.asarray(data.eval_transform(square[None], PREP))
        # PIL's resampling rounds to uint8: half a grey level, in units of std (64)
        assert np.abs(via_host - direct).max() <= 1.01 / 64, (h, w)


def test_varying_sizes_compile_one_eval_program(tfds_dir):
    ds = data.load("oxford_iiit_pet", "train", data_dir=tfds_dir)
    spec = models.Preprocessing(24, 28, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # a spec no other test uses
    before = models.preprocess_images._cache_size()
    for batch in ds.batches(4, preprocessing=spec):
        data.eval_transform(batch["image"], spec)
    assert models.preprocess_images._cache_size() == before + 1


@pytest.mark.parametrize("name", ["oxford_iiit_pet", "cifar10"])
def test_probing_and_finetuning_feed_the_model_identical_arrays(tfds_dir, monkeypatch, tmp_path, name):
    entry = bank.load_bank("cnn_small@mnist5k")[0]
    captured = {}

    def fake_extract(apply_fn, variables, images, *, labels, preprocess, **kwargs):
        captured["x"], captured["labels"] = np.asarray(preprocess(images)), labels
        raise RuntimeError("captured")

    monkeypatch.setattr(_probing, "extract", fake_extract)
    with pytest.raises(RuntimeError, match="captured"):
        bank.probe_bank([entry], name, data_dir=tfds_dir, budget=8, cache_dir=tmp_path, progress=False)
    ds, indices = bank.sample_probe_set(name, data_dir=tfds_dir, budget=8)

    backbone, config = entry_backbone(entry, finetune.default_config())
    network = finetune.make_network(backbone, ds.num_classes, config)
    spec = finetune.model_preprocessing(backbone, config.image_size)
    target = finetune.load_target(name, data_dir=tfds_dir)
    fed = [
        np.asarray(network.model_input(images))
        for images, _ in eval_batches(target.train, indices, 3, preprocessing=spec)
    ]
    np.testing.assert_array_equal(np.concatenate(fed), captured["x"])
    np.testing.assert_array_equal(captured["labels"], ds.labels[indices])


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_score_command_ranks_real_layouts(tfds_dir, tmp_path, capsys, name):
    out = tmp_path / "ranking.csv"
    argv = [
        "--models",
        WEIGHTED,
        "--dataset",
        name,
        "--data-dir",
        str(tfds_dir),
        "--probe-size",
        "8",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--estimators",
        "parc,logme,leep",
        "--out",
        str(out),
    ]
    assert score.main(argv) == 0, capsys.readouterr().err
    rows = list(csv.DictReader(out.open()))
    assert {r["model"] for r in rows} == set(WEIGHTED.split(","))
    assert all(np.isfinite(float(r["parc"])) for r in rows)


def test_score_command_errors_are_one_line(tfds_dir, tmp_path, capsys):
    common = ["--data-dir", str(tfds_dir), "--cache-dir", str(tmp_path), "--probe-size", "8"]
    assert score.main(["--models", WEIGHTED, "--dataset", "dtd", "--split", "val", *common]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "its splits are test, train, validation" in err
    assert score.main(["--models", "cnn_small", "--dataset", "dtd", *common]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "trained weights here: cnn_small@mnist5k" in err
    assert score.main(["--models", WEIGHTED, "--dataset", "oxford_iiit_pet", "--split", "test", *common]) == 0


def test_score_label_key_selects_the_label_feature(tfds_dir, tmp_path, capsys):
    """oxford_iiit_pet has two labels: 37 breeds by default, 2 species with --label-key species."""
    common = [
        "--models",
        WEIGHTED,
        "--dataset",
        "oxford_iiit_pet",
        "--data-dir",
        str(tfds_dir),
        "--probe-size",
        "8",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--estimators",
        "leep",
    ]
    assert score.main([*common, "--label-key", "species", "--out", str(tmp_path / "species.json")]) == 0
    assert score.main([*common, "--out", str(tmp_path / "breed.json")]) == 0
    species, breed = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("species", "breed"))
    assert species["num_classes"] == 2 and breed["num_classes"] == 37
    assert [m["leep"] for m in species["models"]] != [m["leep"] for m in breed["models"]]
    capsys.readouterr()
    assert score.main([*common, "--label-key", "colour"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_finetune_a_few_steps_on_varying_sizes(tfds_dir, tmp_path):
    config = finetune.default_config()
    config.update(
        learning_rates=(0.01,), weight_decays=(0.0,), batch_size=4, eval_batch_size=4, num_steps=3, log_every_steps=1
    )
    entry = bank.load_bank("resnet_tiny@digits")[0]
    result = finetune.finetune_pair(
        entry.model,
        "oxford_iiit_pet",
        config,
        tmp_path / "pair",
        data_dir=tfds_dir,
        weights_path=entry.weights,
        progress=False,
    )
    assert result["num_train"] == 12 and result["num_test"] == 6 and result["num_classes"] == 37
    assert 0.0 <= result["test_accuracy"] <= 100.0


def test_benchmark_command_on_real_layouts(tfds_dir, tmp_path):
    names = ("cnn_small@mnist5k", "resnet_tiny@digits", "cnn_small@digits")
    targets = ("oxford_iiit_pet", "parc_varied_images")
    oracle = tmp_path / "oracle.csv"
    with oracle.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Architecture", "Source Dataset", "Target Dataset", "Oracle"])
        for k, model in enumerate(names):
            for target in targets:
                writer.writerow([model, model.split("@")[1], target, 50.0 + 10 * k])
    config = tmp_path / "bench.py"
    config.write_text(
        "import ml_collections\n\ndef get_config():\n    c = ml_collections.ConfigDict()\n"
        f"    c.bank = {','.join(names)!r}\n    c.targets = {targets!r}\n    c.runs = 1\n    c.budget = 8\n"
        f"    c.estimators = ('parc_f32', 'logme')\n    c.oracle = {str(oracle)!r}\n"
        f"    c.output_dir = {str(tmp_path / 'out')!r}\n    c.cache_dir = {str(tmp_path / 'cache')!r}\n"
        f"    c.data_dir = {str(tfds_dir)!r}\n    c.plots = False\n    return c\n"
    )
    assert benchmark_cli.main(["--config", str(config), "--no-progress"]) == 0
    rows = list(csv.DictReader((tmp_path / "out" / "results.csv").open()))
    assert {(r["Architecture"], r["Target Dataset"]) for r in rows} == {(m, t) for m in names for t in targets}


def test_a_split_of_unknown_labels_is_refused(tfds_dir):
    """places365_small's test split has no labels (-1): probing it says so before any model runs."""
    ds = data.load("places365_small", "test", data_dir=tfds_dir)
    assert ds.labels.tolist() == [-1, -1]
    with pytest.raises(ValueError, match=r"places365_small split 'test' is unlabelled \(label -1\)"):
        bank.sample_probe_set("places365_small", split="test", data_dir=tfds_dir, budget=2)
