"""The zoo: registry, every family builds and runs (jit), preprocessing, orbax round trips, CLI."""

import dataclasses
import json
import os
import subprocess
import sys

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.datasets import load_digits

from parc_jax import models
from parc_jax.models import __main__ as cli

SMALL = ["cnn_small", "cnn_medium", "resnet_tiny", "resnet_small"]


@pytest.fixture
def no_weights(monkeypatch, tmp_path):
    """Empty weight locations, so that nothing pretrained is found."""
    for var in ("PARC_JAX_WEIGHTS", "TORCH_HOME", "HF_HUB_CACHE"):
        monkeypatch.setenv(var, str(tmp_path / var))
    return tmp_path


@pytest.fixture(scope="module")
def digits():
    """Real 8x8 handwritten digits, 0..16 scaled to uint8 0..255, as [N, 8, 8, 1]."""
    d = load_digits()
    images = (d.images[:12] * (255.0 / 16.0)).round().astype(np.uint8)[..., None]
    return images, d.target[:12]


def test_registry_names_and_errors():
    names = models.names()
    for name in [
        "resnet18",
        "resnet34",
        "resnet50",
        "resnet101",
        "resnet152",
        *(f"efficientnet_lite{i}" for i in range(5)),
        "vit_tiny_patch16_224",
        "vit_small_patch16_224",
        "vit_base_patch16_224",
        *SMALL,
    ]:
        assert name in names
    with pytest.raises(ValueError, match="unknown model 'resnet9000'.*resnet50"):
        models.load("resnet9000")
    with pytest.raises(ValueError, match="already registered"):
        models.register("resnet50", models.get_factory("resnet18"))
    with pytest.raises(ValueError, match="not callable"):
        models.register("broken", 3)
    with pytest.raises(ValueError, match="num_classes"):
        models.load("cnn_small", pretrained=False, num_classes=0)


# Published parameter counts (torchvision and timm model cards).
PUBLISHED_PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "vit_tiny_patch16_224": 5_717_416,
    "vit_small_patch16_224": 22_050_664,
    "vit_base_patch16_224": 86_567_656,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED_PARAMS))
def test_architectures_have_published_sizes(name):
    info = models.describe(name)
    assert info.num_params == PUBLISHED_PARAMS[name]
    if name.startswith("resnet"):
        assert info.depth == int(name[len("resnet") :])
        assert info.feature_dim == (512 if info.depth < 50 else 2048)


def test_efficientnet_lite_scaling():
    infos = [models.describe(f"efficientnet_lite{i}") for i in range(5)]
    assert [i.preprocessing.input_size for i in infos] == [224, 240, 260, 280, 300]
    assert all(i.feature_dim == 1280 for i in infos)  # Lite fixes the head width
    sizes = [i.num_params for i in infos]
    assert sizes == sorted(sizes) and len(set(sizes)) == 5
    # TF's README: 4.7M, 5.4M, 6.1M, 8.2M, 13.0M.
    np.testing.assert_allclose(np.array(sizes) / 1e6, [4.7, 5.4, 6.1, 8.2, 13.0], atol=0.06)


@pytest.mark.parametrize("name", SMALL)
def test_small_models_on_real_digits(name, digits):
    images, _ = digits
    m = models.load(name, pretrained=False)
    assert m.info.weights == "random" and m.info.source_dataset == "none"
    x = m.preprocess(images)
    assert x.shape == (12, 32, 32, 3) and x.dtype == jnp.float32

    chex.clear_trace_counter()

    @chex.assert_max_traces(n=1)
    def forward(variables, x):
        return m.apply(variables, x)

    jitted = jax.jit(forward)
    logits, out = jitted(m.variables, x)
    jitted(m.variables, x + 1.0)  # same shape: no retrace
    assert logits.shape == (12, 10)
    assert out["features"].shape == (12, m.info.feature_dim)
    if name == "cnn_small":  # eager dispatch is slow on CPU: compare jit / no-jit once
        # Explicit keys: the same key gives the same weights, another key others.
        same = models.load(name, pretrained=False, rng=jax.random.key(0))
        other = models.load(name, pretrained=False, rng=jax.random.key(1))
        chex.assert_trees_all_equal(same.variables, m.variables)
        assert not np.array_equal(other.params["fc"]["kernel"], m.params["fc"]["kernel"])
        eager_logits, eager_out = m.apply(m.variables, x)
        np.testing.assert_allclose(logits, eager_logits, atol=1e-5)
        np.testing.assert_allclose(out["features"], eager_out["features"], atol=1e-5)
    assert m.info.num_params == sum(v.size for v in jax.tree.leaves(m.variables["params"]))
    # Training mode updates the BatchNorm statistics.
    train_step = jax.jit(lambda v, x: m.apply(v, x, train=True, mutable=["batch_stats"]))
    (_, _), updates = train_step(m.variables, x)
    changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), updates["batch_stats"], m.variables["batch_stats"])
    assert all(jax.tree.leaves(changed))


def test_resnet18_random_init_and_stages(no_weights):
    with pytest.raises(ValueError, match="no pretrained weights for resnet18.*pretrained=False"):
        models.load("resnet18")
    m = models.load("resnet18", pretrained=False, num_classes=7, rng=jax.random.key(3))
    assert m.info.num_source_classes == 7 and m.info.weights == "random"
    x = jax.random.normal(jax.random.key(0), (2, 64, 64, 3))
    logits, out = jax.jit(m.apply)(m.variables, x)
    assert logits.shape == (2, 7) and out["features"].shape == (2, 512)
    assert [out[f"stage{i}"].shape[1] for i in range(1, 5)] == [16, 8, 4, 2]
    assert np.all(np.isfinite(logits))


def test_vit_tiny_random_runs(no_weights):
    with pytest.raises(ValueError, match="timm"):
        models.load("vit_tiny_patch16_224")
    m = models.load("vit_tiny_patch16_224", pretrained=False)
    img = np.random.RandomState(0).randint(0, 256, (1, 240, 320, 3)).astype(np.uint8)
    logits, out = jax.jit(m.apply)(m.variables, m.preprocess(img))
    assert logits.shape == (1, 1000) and out["features"].shape == (1, 192)
    assert out["blocks.11"].shape == (1, 197, 192) and out["patch_embed"].shape == (1, 196, 192)
    # bf16 compute by casting: modules infer the dtype from params and inputs.
    bf16 = jax.tree.map(lambda a: a.astype(jnp.bfloat16), m.variables)
    logits16, _ = jax.jit(m.apply)(bf16, m.preprocess(img).astype(jnp.bfloat16))
    assert logits16.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(logits16, np.float32), logits, atol=0.15)


# ---------------------------------------------------------------------------- preprocessing

SPEC = models.Preprocessing(16, 20, (10.0, 20.0, 30.0), (2.0, 4.0, 8.0))


def test_preprocess_normalises_exactly_when_no_resize_is_needed():
    x = np.random.RandomState(0).randint(0, 256, (2, 16, 16, 3)).astype(np.uint8)
    spec = dataclasses.replace(SPEC, resize_size=16)
    got = models.preprocess_images(jnp.asarray(x), spec)
    want = (x.astype(np.float32) - np.array(SPEC.mean)) / np.array(SPEC.std)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_preprocess_shapes_grayscale_and_dtypes():
    rng = np.random.RandomState(1)
    wide = rng.randint(0, 256, (3, 30, 50, 1)).astype(np.uint8)
    out = models.preprocess_images(jnp.asarray(wide), SPEC)
    assert out.shape == (3, 16, 16, 3) and out.dtype == jnp.float32
    # grayscale -> RGB: the three channels are the same image, each with its own normalisation
    raw = np.asarray(out) * np.array(SPEC.std) + np.array(SPEC.mean)
    np.testing.assert_allclose(raw[..., 0], raw[..., 2], atol=1e-4)
    # uint8 and the same values as float give the same result; tall images work too
    np.testing.assert_allclose(models.preprocess_images(jnp.asarray(wide, jnp.float32), SPEC), out, atol=1e-6)
    tall = models.preprocess_images(jnp.asarray(np.swapaxes(wide, 1, 2)), SPEC)
    assert tall.shape == (3, 16, 16, 3)
    # jittable inside a user's jit
    np.testing.assert_allclose(jax.jit(lambda a: models.preprocess_images(a, SPEC))(wide), out, atol=1e-6)
    with pytest.raises(ValueError, match="C in"):
        models.preprocess_images(jnp.zeros((2, 8, 8, 4)), SPEC)
    with pytest.raises(ValueError, match="input_size <= resize_size"):
        models.Preprocessing(32, 16, (0, 0, 0), (1, 1, 1))


def test_preprocess_resize_is_antialiased_and_centred():
    # 1-pixel checkerboard, 0/255: any non-antialiased downscale aliases to 0s and 255s.
    board = (np.indices((80, 80)).sum(0) % 2 * 255).astype(np.uint8)
    img = np.repeat(board[None, :, :, None], 3, axis=-1)
    spec = models.Preprocessing(16, 20, (0.0,) * 3, (1.0,) * 3)
    out = np.asarray(models.preprocess_images(jnp.asarray(img), spec))
    np.testing.assert_allclose(out, 127.5, atol=3.0)
    # Centre crop: a bright square in the middle stays in the middle.
    img = np.zeros((1, 40, 60, 3), np.uint8)
    img[:, 15:25, 25:35] = 255
    out = np.asarray(models.preprocess_images(jnp.asarray(img), spec))[0, ..., 0]
    ys, xs = np.nonzero(out > 128)
    assert abs(ys.mean() - 7.5) < 0.6 and abs(xs.mean() - 7.5) < 0.6


# ------------------------------------------------------------------------------------ orbax


def test_orbax_round_trip_and_load_from_checkpoint(tmp_path, monkeypatch, digits):
    m = models.load("resnet_tiny", pretrained=False, rng=jax.random.key(5))
    m = dataclasses.replace(m, info=dataclasses.replace(m.info, source_dataset="digits"))
    path = models.save_params(m, tmp_path / "ckpt")
    assert os.path.isabs(path)
    models.save_params(m, path)  # overwriting is allowed
    restored = models.restore_params(path, like=m)
    chex.assert_trees_all_equal(jax.tree.map(np.asarray, restored), jax.tree.map(np.asarray, m.variables))
    raw = models.restore_params(path)  # no target: the saved tree as it is
    assert set(raw) == {"params", "batch_stats"}

    loaded = models.load("resnet_tiny", weights_path=path)
    assert loaded.info.weights == path and loaded.info.source_dataset == "digits"
    x = m.preprocess(digits[0])
    np.testing.assert_array_equal(loaded(x)[0], m(x)[0])

    # Found automatically under $PARC_JAX_WEIGHTS/<name>/.
    monkeypatch.setenv("PARC_JAX_WEIGHTS", str(tmp_path / "bank"))
    models.save_params(m, tmp_path / "bank" / "resnet_tiny")
    auto = models.load("resnet_tiny")
    assert auto.info.weights == str(tmp_path / "bank" / "resnet_tiny")
    # A different class count keeps the body and re-initialises the classifier.
    five = models.load("resnet_tiny", num_classes=5)
    assert five(x)[0].shape == (12, 5)
    np.testing.assert_allclose(five(x)[1]["features"], m(x)[1]["features"], atol=1e-6)

    with pytest.raises(ValueError, match="shape|missing|wrong architecture"):
        models.load("resnet_small", weights_path=path)
    with pytest.raises(ValueError, match="no checkpoint directory"):
        models.restore_params(tmp_path / "nothing")


def test_save_plain_variables(tmp_path):
    variables = {"params": {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}}
    path = models.save_params(variables, str(tmp_path / "plain"))
    back = models.restore_params(path, like=variables)
    np.testing.assert_array_equal(back["params"]["w"], variables["params"]["w"])


# -------------------------------------------------------------------------------------- CLI


def test_cli_lists_models(capsys, no_weights):
    assert cli.main(["cnn_small", "resnet50", "efficientnet_lite0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["name", "family", "source"]
    row = next(line for line in lines if line.startswith("resnet50"))
    assert "2048" in row and "25.56M" in row and row.split()[-1] == "missing"
    assert cli.main(["--json", "cnn_small"]) == 0
    (rec,) = json.loads(capsys.readouterr().out)
    assert rec["name"] == "cnn_small" and rec["feature_dim"] == 64
    assert rec["weights_present"] is False


def test_cli_unknown_model_exits_2():
    proc = subprocess.run(
        [sys.executable, "-m", "parc_jax.models", "nope"],
        capture_output=True,
        text=True,
        timeout=600,  # hang guard
        env={**os.environ, "JAX_PLATFORMS": "cpu"},
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "unknown model 'nope'" in proc.stderr
