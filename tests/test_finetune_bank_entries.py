"""The bank runner on parc_jax.bank entries: names, weights, sources and image sizes of a bank."""

import csv
import json

import jax
import numpy as np
import pytest
from _finetune_fixtures import compilation_cache, data_dir  # noqa: F401  (pytest fixtures)

from parc_jax import bank, finetune, models
from parc_jax.finetune import __main__ as cli
from parc_jax.finetune._sources import entry_backbone


@pytest.fixture(scope="module")
def bank_file(tmp_path_factory):
    """A two-entry bank: saved weights "trained on digits" at the model's size, and a seeded
    random control at 16 px."""
    root = tmp_path_factory.mktemp("bank")
    zoo = models.load("cnn_small", pretrained=False, rng=jax.random.key(3))
    models.save_params(zoo, root / "weights" / "saved")
    (root / "tiny.py").write_text(
        "import ml_collections\n"
        "def get_config():\n"
        "  c = ml_collections.ConfigDict()\n"
        "  c.name = 'tiny'\n"
        "  c.models = [dict(name='cnn_small@digits', model='cnn_small', weights='weights/saved',\n"
        "                   source_dataset='digits'),\n"
        "              dict(name='control', model='cnn_small', weights='random', seed=1,\n"
        "                   source_dataset='none', image_size=16)]\n"
        "  return c\n"
    )
    return root / "tiny.py"


def _argv(bank_file, data_dir, workdir, *extra):
    return [
        "--bank",
        str(bank_file),
        "--targets",
        "digits",
        "--workdir",
        str(workdir),
        "--data-dir",
        str(data_dir),
        "--config.mode=finetune",
        "--config.num_steps=4",
        "--config.learning_rates=0.1",
        "--config.batch_size=32",
        "--config.augment=False",
        "--config.image_size=40",
        "--no-progress",
        *extra,
    ]


def _rows(workdir):
    with open(workdir / "oracle.csv", newline="") as f:
        return [(r["Architecture"], r["Source Dataset"], r["Target Dataset"]) for r in csv.DictReader(f)]


def test_entries_keep_their_names_sources_and_skip_their_own_source(bank_file, data_dir, tmp_path):
    assert cli.main(_argv(bank_file, data_dir, tmp_path)) == 0
    assert _rows(tmp_path) == [("control", "none", "digits")]  # cnn_small@digits: own source
    res = json.loads((tmp_path / "pairs" / "control__digits" / "result.json").read_text())
    assert res["model"] == "control" and res["mode"] == "finetune" and res["final"]["steps"] == 4

    both = tmp_path / "both"
    assert cli.main(_argv(bank_file, data_dir, both, "--keep-own-source")) == 0
    assert _rows(both) == [("cnn_small@digits", "digits", "digits"), ("control", "none", "digits")]


def test_entry_weights_and_image_size(bank_file):
    saved, control = bank.load_bank(str(bank_file))
    config = finetune.default_config()
    config.image_size = 40
    backbone, pair_config = entry_backbone(saved, config)
    # No entry size: the config's size applies; the saved weights are the ones loaded.
    assert pair_config.image_size == 40 and backbone.name == "cnn_small@digits"
    assert finetune.model_preprocessing(backbone, pair_config.image_size).input_size == 40
    want = models.load("cnn_small", pretrained=False, rng=jax.random.key(3)).variables["params"]
    assert all(jax.tree.leaves(jax.tree.map(lambda a, b: bool((a == b).all()), backbone.variables["params"], want)))
    # The entry's size wins, exactly (no resize-then-crop): the size the bank is probed at.
    backbone, pair_config = entry_backbone(control, config)
    spec = finetune.model_preprocessing(backbone, pair_config.image_size)
    assert (spec.input_size, spec.resize_size) == (16, 16) and backbone.source_dataset == "none"


def test_scratch_mode_refuses_a_bank(bank_file, data_dir, tmp_path, capsys):
    argv = _argv(bank_file, data_dir, tmp_path) + ["--config.mode=scratch"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "mode=scratch" in err and "\n" not in err


def test_batchnorm_recalibration_gives_the_batch_statistics():
    """Recalibrated on one batch, eval mode on that batch equals train mode (batch statistics)."""
    zoo = models.load("resnet_tiny", pretrained=False, rng=jax.random.key(0))
    backbone = finetune.Backbone("resnet_tiny", "none", zoo.module, zoo.variables, zoo.info.preprocessing)
    config = finetune.default_config()
    config.mode = "scratch"
    network = finetune.make_network(backbone, 10, config)
    trainer = finetune.Trainer(network, finetune.make_optimizer(config, 0.1, 0.0, 10), finetune.global_mesh())
    state = trainer.init_state(zoo.variables["params"], zoo.variables["batch_stats"], None)
    images = np.asarray(jax.random.randint(jax.random.key(1), (16, 32, 32, 3), 0, 256), np.uint8)
    want, _ = network.apply(state.trainable, state.frozen, state.batch_stats, images, train=True, rng=jax.random.key(2))
    before, _ = network.apply(state.trainable, state.frozen, state.batch_stats, images, train=False)
    state = trainer.recalibrate_batch_stats(state, [(images, np.zeros(16, np.int32))])
    got, _ = network.apply(state.trainable, state.frozen, state.batch_stats, images, train=False)
    assert float(np.abs(np.asarray(before) - np.asarray(want)).max()) > 1e-2  # init stats differ
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3)
