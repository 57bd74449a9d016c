"""Data-parallel extraction on 1, 2 and 4 fake CPU devices, mesh and pmap strategies."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parc_jax.extract import Extractor, ProbeSet, extract

N = 37  # not a multiple of any batch size below: the last batch is always padded


class TinyCNN(nn.Module):
    """Conv-BN-ReLU-pool-Dense; returns (logits, {"features": pooled})."""

    num_classes: int = 5

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.Conv(8, (3, 3))(x)
        x = nn.BatchNorm(use_running_average=not train)(x)
        x = nn.relu(x)
        x = nn.Conv(16, (3, 3), strides=2)(x)
        features = nn.relu(x).mean(axis=(1, 2))
        return nn.Dense(self.num_classes)(features), {"features": features}


@pytest.fixture(scope="module")
def setup():
    model = TinyCNN()
    rng = np.random.RandomState(0)
    images = rng.rand(N, 8, 8, 3).astype(np.float32)
    labels = rng.randint(0, 3, N)
    variables = model.init(jax.random.key(0), images[:2])
    # Non-trivial batch statistics, so that the eval-mode BatchNorm matters.
    variables = {
        "params": variables["params"],
        "batch_stats": jax.tree.map(
            lambda s: s + 0.3 * jax.random.uniform(jax.random.key(1), s.shape),
            variables["batch_stats"],
        ),
    }

    def apply_fn(v, x):
        return model.apply(v, x, train=False)

    logits, out = apply_fn(variables, images)  # eager, unbatched reference
    return {
        "apply_fn": apply_fn,
        "variables": variables,
        "images": images,
        "labels": labels,
        "features": np.asarray(out["features"]),
        "probs": np.asarray(jax.nn.softmax(logits, axis=-1)),
    }


@pytest.mark.parametrize("strategy", ["mesh", "pmap"])
@pytest.mark.parametrize("n_devices", [1, 2, 4])
def test_same_numbers_on_1_2_4_devices_both_strategies(setup, strategy, n_devices):
    probe = extract(
        setup["apply_fn"],
        setup["variables"],
        setup["images"],
        labels=setup["labels"],
        batch_size=8,
        strategy=strategy,
        devices=jax.devices()[:n_devices],
        progress=False,
    )
    assert isinstance(probe, ProbeSet) and len(probe) == N
    assert probe.features.dtype == np.float32 and probe.probs.dtype == np.float32
    np.testing.assert_allclose(probe.features, setup["features"], atol=1e-5, rtol=0)
    np.testing.assert_allclose(probe.probs, setup["probs"], atol=1e-5, rtol=0)
    np.testing.assert_array_equal(probe.labels, setup["labels"])
    np.testing.assert_allclose(probe.probs.sum(1), 1.0, atol=1e-6)


@pytest.mark.parametrize("strategy", ["mesh", "pmap"])
def test_step_is_traced_once_for_all_batches(setup, strategy):
    chex.clear_trace_counter()  # chex counts per source footprint, shared by the parameters
    counted = chex.assert_max_traces(lambda v, x: setup["apply_fn"](v, x), n=1)
    ext = Extractor(counted, setup["variables"], batch_size=8, strategy=strategy)
    first = ext(setup["images"], progress=False)  # 5 steps, the last one padded
    again = ext(setup["images"][:3], progress=False)  # a second call reuses the compiled step
    np.testing.assert_allclose(first.features, setup["features"], atol=1e-5)
    np.testing.assert_allclose(again.features, setup["features"][:3], atol=1e-5)


def test_batch_size_rounded_up_to_device_multiple(setup):
    ext = Extractor(setup["apply_fn"], setup["variables"], batch_size=6, devices=4)
    assert (ext.per_device_batch, ext.global_batch) == (2, 8)
    probe = ext(setup["images"], progress=False)
    np.testing.assert_allclose(probe.features, setup["features"], atol=1e-5)


def test_fewer_images_than_devices(setup):
    probe = extract(setup["apply_fn"], setup["variables"], setup["images"][:3], progress=False)
    assert len(probe) == 3
    np.testing.assert_allclose(probe.features, setup["features"][:3], atol=1e-5)


@pytest.mark.parametrize("strategy", ["mesh", "pmap"])
def test_iterator_of_ragged_batches_equals_arrays(setup, strategy):
    cuts = [0, 5, 6, 13, 13, 30, N]  # sizes 5, 1, 7, 0, 17, 7
    batches = ({"image": setup["images"][a:b], "label": setup["labels"][a:b]} for a, b in zip(cuts[:-1], cuts[1:]))
    probe = extract(
        setup["apply_fn"],
        setup["variables"],
        batches,
        batch_size=8,
        strategy=strategy,
        progress=False,
    )
    np.testing.assert_allclose(probe.features, setup["features"], atol=1e-5)
    np.testing.assert_allclose(probe.probs, setup["probs"], atol=1e-5)
    np.testing.assert_array_equal(probe.labels, setup["labels"])


def test_mapping_input_and_multi_hot_labels(setup):
    multi_hot = np.eye(3, dtype=np.int8)[setup["labels"]]
    probe = extract(
        setup["apply_fn"],
        setup["variables"],
        {"image": setup["images"], "label": multi_hot},
        batch_size=16,
        progress=False,
    )
    np.testing.assert_array_equal(probe.labels, multi_hot)
    assert probe.labels.dtype == np.int8


def test_no_labels_gives_none(setup):
    probe = extract(setup["apply_fn"], setup["variables"], setup["images"], progress=False)
    assert probe.labels is None


@pytest.mark.parametrize("strategy", ["mesh", "pmap"])
def test_bfloat16_compute(setup, strategy):
    ext = Extractor(setup["apply_fn"], setup["variables"], batch_size=8, strategy=strategy, dtype="bfloat16")
    for leaf in jax.tree.leaves(ext.variables):
        assert leaf.dtype == jnp.bfloat16
    probe = ext(setup["images"], progress=False)
    assert probe.features.dtype == np.float32 and probe.probs.dtype == np.float32
    err = np.abs(probe.features - setup["features"]).max()
    scale = np.abs(setup["features"]).max()
    assert 0 < err < 2e-2 * scale  # really computed in bf16, and still close
    np.testing.assert_allclose(probe.probs.sum(1), 1.0, atol=1e-5)


def test_bfloat16_same_on_both_strategies(setup):
    a = extract(
        setup["apply_fn"],
        setup["variables"],
        setup["images"],
        dtype=jnp.bfloat16,
        strategy="mesh",
        batch_size=8,
        progress=False,
    )
    b = extract(
        setup["apply_fn"],
        setup["variables"],
        setup["images"],
        dtype=jnp.bfloat16,
        strategy="pmap",
        batch_size=8,
        progress=False,
    )
    np.testing.assert_allclose(a.features, b.features, atol=1e-5)


@pytest.mark.parametrize("strategy", ["mesh", "pmap"])
def test_preprocess_runs_inside_the_step(setup, strategy):
    model = TinyCNN()
    variables = setup["variables"]
    rng = np.random.RandomState(2)
    raw = rng.randint(0, 256, (N, 6, 6, 1), dtype=np.uint8)  # grayscale, smaller than the model's

    def preprocess(x):
        x = jnp.repeat(x.astype(jnp.float32), 3, axis=-1)
        x = jax.image.resize(x, (x.shape[0], 8, 8, 3), "bilinear")
        return (x - 127.0) / 128.0

    def apply_fn(v, x):
        return model.apply(v, x, train=False)

    _, out = apply_fn(variables, preprocess(jnp.asarray(raw)))
    probe = extract(apply_fn, variables, raw, batch_size=8, strategy=strategy, preprocess=preprocess, progress=False)
    np.testing.assert_allclose(probe.features, np.asarray(out["features"]), atol=1e-5)


def test_progress_bar_reports_images(setup, capsys):
    extract(setup["apply_fn"], setup["variables"], setup["images"], batch_size=8, progress=True)
    err = capsys.readouterr().err
    assert "extract[mesh x4 float32]" in err and "img" in err


def test_progress_off_is_silent(setup, capsys):
    extract(setup["apply_fn"], setup["variables"], setup["images"], batch_size=8, progress=False)
    assert capsys.readouterr().err == ""


def _call(setup, **kw):
    kw.setdefault("progress", False)
    data = kw.pop("data", setup["images"])
    apply_fn = kw.pop("apply_fn", setup["apply_fn"])
    return extract(apply_fn, setup["variables"], data, **kw)


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"strategy": "spmd"}, "strategy 'spmd' is unknown"),
        ({"dtype": "float16"}, "use 'float32' or 'bfloat16'"),
        ({"dtype": "nonsense"}, "use 'float32' or 'bfloat16'"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"devices": []}, "devices is empty"),
        ({"labels": np.zeros(5)}, "one label"),
        ({"data": np.zeros((0, 8, 8, 3), np.float32)}, "no images"),
        ({"data": iter([])}, "no images"),
        ({"data": [{"img": np.zeros((2, 8, 8, 3))}]}, "not a mapping with 'image'"),
        ({"data": {"images": np.zeros((2, 8, 8, 3))}}, "no 'image'"),
        ({"data": 3}, "cannot extract from int"),
        (
            {"data": [{"image": np.zeros((2, 8, 8, 3)), "label": np.zeros(2)}, {"image": np.zeros((2, 8, 8, 3))}]},
            "give labels in every batch or in none",
        ),
        ({"data": [{"image": np.zeros((2, 8, 8, 3)), "label": np.zeros(3)}]}, "labels of shape"),
        ({"data": {"image": np.zeros((2, 8, 8, 3))}, "labels": np.zeros(2)}, "given twice"),
    ],
)
def test_bad_input_raises_value_error(setup, kw, match):
    with pytest.raises(ValueError, match=match):
        _call(setup, **kw)


def test_model_without_flat_features_is_rejected(setup):
    def spatial(v, x):
        return jnp.zeros((x.shape[0], 5)), {"features": x}

    with pytest.raises(ValueError, match=r"must\s+be \[B, D\]"):
        _call(setup, apply_fn=spatial)

    def no_dict(v, x):
        return jnp.zeros((x.shape[0], 5)), x

    with pytest.raises(ValueError, match=r"out\['features'\]"):
        _call(setup, apply_fn=no_dict)
