"""Fine-tuning: schedule, optimizer, data order, data parallelism, grid, NaN handling, bank, CLI.

Real data (scikit-learn digits through parc_jax.data) and real zoo modules; 4 fake CPU devices.
The SIGKILL resume test is in test_finetune_resume.py.
"""

import csv
import json
import re

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from _finetune_fixtures import compilation_cache, data_dir  # noqa: F401  (pytest fixtures)

from parc_jax import _config, data, finetune, models
from parc_jax.finetune import __main__ as cli
from parc_jax.finetune._sources import load_target


@pytest.fixture(scope="module")
def digits(data_dir):
    return load_target("digits", data_dir=data_dir)


def small_config(**overrides) -> ml_collections.ConfigDict:
    c = finetune.default_config()
    c.mode = "scratch"
    c.learning_rates = (0.1,)
    c.weight_decays = (1e-4,)
    c.batch_size = 32
    c.eval_batch_size = 128
    c.num_steps = 20
    c.augment = False
    c.log_every_steps = 5
    c.checkpoint_every_steps = 10
    for k, v in overrides.items():
        c[k] = v
    return c


def backbone(name="cnn_small", mode="scratch", num_classes=10, seed=0):
    zoo = models.load(name, pretrained=False, num_classes=num_classes, rng=jax.random.key(seed))
    return finetune.Backbone(name, zoo.info.source_dataset, zoo.module, zoo.variables, zoo.info.preprocessing), zoo


def test_schedule_warmup_then_cosine_to_zero():
    s = finetune.make_schedule(0.5, total_steps=100, warmup_fraction=0.1)
    lrs = np.array([float(s(t)) for t in range(101)])
    assert lrs[0] == 0.0 and lrs[10] == pytest.approx(0.5)
    assert np.all(np.diff(lrs[:11]) > 0) and np.all(np.diff(lrs[10:]) <= 1e-9)
    assert lrs[55] == pytest.approx(0.25, abs=1e-6)  # half-way through the cosine
    assert lrs[100] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_weight_decay_only_on_kernels(optimizer):
    config = small_config(optimizer=optimizer, warmup_fraction=0.0)
    tx = finetune.make_optimizer(config, 0.1, 0.5, total_steps=10)
    params = {"kernel": jnp.ones((3, 2)), "bias": jnp.ones((2,)), "scale": jnp.ones((2,))}
    zeros = jax.tree.map(jnp.zeros_like, params)
    updates, _ = tx.update(zeros, tx.init(params), params)
    new = optax.apply_updates(params, updates)
    assert float(new["kernel"][0, 0]) < 1.0
    np.testing.assert_array_equal(new["bias"], params["bias"])
    np.testing.assert_array_equal(new["scale"], params["scale"])


def test_train_stream_is_a_function_of_seed_and_step_and_visits_every_example_per_epoch(data_dir):
    ds = data.load("digits", "train", data_dir=data_dir)
    n = len(ds)  # 1,438 examples: batch 14 of 100 straddles two epochs
    stream = finetune.TrainStream(ds, batch_size=100, seed=7)
    order = np.concatenate([stream.batch_indices(t) for t in range(2 * n // 100 + 1)])
    assert sorted(order[:n].tolist()) == list(range(n)) == sorted(order[n : 2 * n].tolist())
    assert not np.array_equal(order[:n], order[n : 2 * n])  # a new order each epoch
    again = finetune.TrainStream(ds, batch_size=100, seed=7)
    np.testing.assert_array_equal(again.batch_indices(14), order[1400:1500])  # resumable: no state
    assert not np.array_equal(finetune.TrainStream(ds, 100, seed=8).batch_indices(0), order[:100])
    images, labels = stream(3)
    ref = ds.take(order[300:400])
    np.testing.assert_array_equal(images, ref["image"])
    np.testing.assert_array_equal(labels, ref["label"])
    sub = finetune.TrainStream(ds, batch_size=50, seed=7, indices=np.arange(0, 1438, 2))
    assert set(sub.batch_indices(5).tolist()) <= set(range(0, 1438, 2))


def _trained_state(mesh, digits, steps=6):
    bb, _ = backbone()
    config = small_config()
    net = finetune.make_network(bb, 10, config)
    trainer = finetune.Trainer(net, finetune.make_optimizer(config, 0.1, 1e-4, steps), mesh)
    state = trainer.init_state(bb.variables["params"], bb.variables["batch_stats"], None)
    stream = finetune.TrainStream(digits.train, 32, seed=0)
    for t in range(steps):
        state, metrics = trainer.step(state, *stream(t))
    return jax.device_get(state), float(metrics["loss"]), bb


def test_data_parallel_over_4_devices_matches_one_device(digits):
    assert jax.device_count() == 4
    mesh4 = finetune.global_mesh()
    mesh1 = jax.sharding.Mesh(np.asarray(jax.devices()[:1], dtype=object), ("data",))
    s4, loss4, bb = _trained_state(mesh4, digits, steps=3)
    s1, loss1, _ = _trained_state(mesh1, digits, steps=3)
    assert loss4 == pytest.approx(loss1, rel=1e-4)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=2e-4),
        (s4.trainable, s4.batch_stats),
        (s1.trainable, s1.batch_stats),
    )
    # BatchNorm running statistics were updated in train mode.
    before = bb.variables["batch_stats"]["bn1"]["mean"]
    assert not np.allclose(s4.batch_stats["bn1"]["mean"], before)


def test_scratch_training_learns_digits_and_writes_result(digits, tmp_path):
    bb, _ = backbone()
    config = small_config(num_steps=60, learning_rates=(0.1,), eval_every_steps=30)
    res = finetune.finetune(bb, digits, config, tmp_path / "pair", progress=False)
    assert res["test_accuracy"] > 60.0, res["test_accuracy"]  # chance: 10
    assert res["num_test"] == len(digits.test.labels) == 359
    hist = res["final"]["history"]
    assert hist["eval"]["step"] == [30, 60] and hist["train"]["step"][-1] == 60
    assert hist["train"]["loss"][-1] < hist["train"]["loss"][0]
    saved = json.loads((tmp_path / "pair" / "result.json").read_text())
    assert saved["test_accuracy"] == res["test_accuracy"]
    # A finished pair is returned from disk, not retrained.
    again = finetune.finetune(bb, digits, config, tmp_path / "pair", progress=False)
    assert again["wall_s_this_session"] == res["wall_s_this_session"]


def test_linear_probe_trains_only_the_head(digits, tmp_path):
    bb, _ = backbone()
    config = small_config(mode="linear_probe")
    net = finetune.make_network(bb, 10, config)
    assert net.new_head and net.linear_probe
    trainer = finetune.Trainer(net, finetune.make_optimizer(config, 0.5, 0.0, 5), finetune.global_mesh())
    head = net.init_head(net.feature_dim(bb.variables, 32))
    state = trainer.init_state(bb.variables["params"], bb.variables["batch_stats"], head)
    assert set(state.trainable) == {"head"}
    stream = finetune.TrainStream(digits.train, 32, seed=0)
    for t in range(5):
        state, _ = trainer.step(state, *stream(t))
    jax.tree.map(
        np.testing.assert_array_equal, jax.device_get(state.frozen["backbone"]), jax.device_get(bb.variables["params"])
    )
    jax.tree.map(
        np.testing.assert_array_equal, jax.device_get(state.batch_stats), jax.device_get(bb.variables["batch_stats"])
    )
    assert float(jnp.abs(state.trainable["head"]["kernel"]).sum()) > 0


def test_grid_selects_on_validation_and_skips_diverged(digits, tmp_path):
    bb, _ = backbone()
    config = small_config(learning_rates=(1e6, 0.1), num_steps=20, final="selected_run")
    res = finetune.finetune(bb, digits, config, tmp_path / "grid", progress=False)
    rows = {r["learning_rate"]: r for r in res["grid"]}
    assert rows[1e6]["status"] == "diverged" and rows[1e6]["val_accuracy"] is None
    assert rows[0.1]["status"] == "done" and rows[0.1]["val_accuracy"] > 10  # chance: 10
    assert res["selected"] == {"learning_rate": 0.1, "weight_decay": 1e-4}
    assert res["protocol"] == "selected_run"
    assert res["num_val"] + res["final"]["num_train"] == len(digits.train.labels)
    assert res["test_accuracy"] == res["final"]["test"]["accuracy"]
    assert (tmp_path / "grid" / "grid" / "lr=1e+06,wd=0.0001" / "result.json").exists()


def test_nan_loss_stops_with_message_and_keeps_last_good_checkpoint(digits, tmp_path):
    bb, _ = backbone()
    from parc_jax.finetune._checkpoint import RunCheckpoints  # noqa: PLC0415

    config = small_config(warmup_fraction=0.0)
    net = finetune.make_network(bb, 10, config)
    # The learning rate grows 10x each step: fine for a few steps, then NaN.
    tx = optax.chain(optax.sgd(lambda t: 1e-3 * 10.0 ** t.astype(jnp.float32)))
    trainer = finetune.Trainer(net, tx, finetune.global_mesh())
    state = trainer.init_state(bb.variables["params"], bb.variables["batch_stats"], None)
    stream = finetune.TrainStream(digits.train, 32, seed=0)
    with pytest.raises(finetune.TrainingDiverged) as err:
        finetune.train_run(
            trainer,
            state,
            stream,
            total_steps=50,
            evaluators={},
            workdir=tmp_path / "run",
            log_every_steps=1,
            eval_every_steps=0,
            checkpoint_every_steps=2,
            max_to_keep=1,
            progress=False,
        )
    m = re.search(r"diverged at step (\d+): .*last good checkpoint: step (\d+) in (\S+);", str(err.value))
    assert m, str(err.value)
    bad, good = int(m[1]), int(m[2])
    assert 2 < bad < 50 and good == 2 * ((bad - 1) // 2)  # the last checkpoint before the NaN
    ckpt = RunCheckpoints(m[3])
    restored, history = ckpt.restore(ckpt.latest_step(), state)
    ckpt.close()
    assert ckpt.latest_step() == good and history["train"]["step"] == list(range(1, good + 1))
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(restored.trainable))
    assert np.isfinite(history["train"]["loss"]).all()
    assert not (tmp_path / "run" / "result.json").exists()


def test_target_with_one_class_is_rejected(digits):
    train = finetune.ArraySplit(digits.train.images[:20], np.zeros(20, int))
    test = finetune.ArraySplit(digits.test.images[:5], np.zeros(5, int))
    target = finetune.Target("one", train, test, num_classes=1)
    with pytest.raises(ValueError, match="at least 2"):
        target.check()


def test_config_overrides_and_validation(tmp_path):
    c = _config.apply_overrides(
        finetune.default_config(), {"learning_rates": "0.1,0.01", "num_epochs": "3", "mode": "linear_probe"}
    )
    assert c.learning_rates == (0.1, 0.01) and c.num_epochs == 3.0 and c.mode == "linear_probe"
    with pytest.raises(ValueError, match="unknown config field 'lr'"):
        _config.apply_overrides(c, {"lr": "0.1"})
    with pytest.raises(ValueError, match="config.mode='bogus'"):
        finetune.validate_config(_config.apply_overrides(c, {"mode": "bogus"}))
    cfg = tmp_path / "cfg.py"
    cfg.write_text(
        "from parc_jax.finetune import default_config\n"
        "def get_config():\n  c = default_config()\n  c.batch_size = 8\n  return c\n"
    )
    assert finetune.load_config(cfg).batch_size == 8


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "no_such_model", "--dataset", "digits"], "unknown model 'no_such_model'"),
        (["--model", "cnn_small", "--dataset", "no_such_dataset"], "unknown dataset 'no_such_dataset'"),
        (["--model", "cnn_small", "--dataset", "digits", "--config.lr=1"], "unknown config field 'lr'"),
        (["--models", "cnn_small"], "nothing to do"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(argv, message, data_dir, tmp_path, capsys):
    code = cli.main(argv + ["--workdir", str(tmp_path / "w"), "--data-dir", str(data_dir)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_cli_unwritable_workdir(data_dir, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code = cli.main(
        [
            "--model",
            "cnn_small",
            "--dataset",
            "digits",
            "--workdir",
            str(blocker / "sub"),
            "--data-dir",
            str(data_dir),
            "--config.mode=scratch",
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and "is not writable" in err and "\n" not in err


def test_bank_writes_oracle_table_and_skips_finished_pairs(data_dir, tmp_path, capsys):
    argv = [
        "--models",
        "cnn_small",
        "--targets",
        "digits",
        "--workdir",
        str(tmp_path),
        "--data-dir",
        str(data_dir),
        "--config.mode=scratch",
        "--config.num_steps=8",
        "--config.learning_rates=0.1",
        "--config.batch_size=32",
        "--config.augment=False",
        "--export",
        str(tmp_path / "weights"),
        "--no-progress",
    ]
    assert cli.main(argv) == 0
    with open(tmp_path / "oracle.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["Architecture", "Source Dataset", "Target Dataset", "Oracle"]
    assert [(r["Architecture"], r["Source Dataset"], r["Target Dataset"]) for r in rows] == [
        ("cnn_small", "none", "digits")
    ]
    for r in rows:
        res = json.loads((tmp_path / "pairs" / f"{r['Architecture']}__digits" / "result.json").read_text())
        assert float(r["Oracle"]) == pytest.approx(res["test_accuracy"], abs=1e-4)
        assert res["selected"]["learning_rate"] == 0.1 and res["time_s"] > 0
    # The evaluation module reads the table as an oracle.
    from parc_jax.evaluation._tables import read_table  # noqa: PLC0415

    assert (
        len(
            read_table(
                str(tmp_path / "oracle.csv"), "oracle", ["Architecture", "Source Dataset", "Target Dataset", "Oracle"]
            )["Oracle"]
        )
        == 1
    )
    # The exported weights load back as a zoo model trained on digits.
    trained = models.load("cnn_small", weights_path=tmp_path / "weights" / "cnn_small__digits")
    assert trained.info.source_dataset == "digits"
    mtime = (tmp_path / "pairs" / "cnn_small__digits" / "result.json").stat().st_mtime_ns
    assert cli.main(argv) == 0  # everything finished: nothing retrained
    assert (tmp_path / "pairs" / "cnn_small__digits" / "result.json").stat().st_mtime_ns == mtime


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_optimizer_matches_optax_reference(optimizer):
    config = small_config(optimizer=optimizer, warmup_fraction=0.2)
    tx = finetune.make_optimizer(config, 0.3, 0.01, total_steps=10)
    sched = finetune.make_schedule(0.3, 10, 0.2)
    from parc_jax.finetune._optim import decay_mask  # noqa: PLC0415

    if optimizer == "sgd":
        ref = optax.chain(optax.add_decayed_weights(0.01, mask=decay_mask), optax.sgd(sched, momentum=0.9))
    else:
        ref = optax.adamw(sched, weight_decay=0.01, mask=decay_mask)
    params = {"w": jnp.linspace(-1.0, 1.0, 6).reshape(2, 3), "b": jnp.ones(3)}
    p1, p2, s1, s2 = params, params, tx.init(params), ref.init(params)
    for t in range(6):
        g = jax.tree.map(lambda p, t=t: jnp.sin(p * (t + 1)), p1)
        u1, s1 = tx.update(g, s1, p1)
        u2, s2 = ref.update(g, s2, p2)
        p1, p2 = optax.apply_updates(p1, u1), optax.apply_updates(p2, u2)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), p1, p2)
