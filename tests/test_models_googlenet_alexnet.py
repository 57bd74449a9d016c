"""GoogLeNet and AlexNet against real torchvision forward passes.

The fixtures (tests/fixtures/torch/googlenet.pth, alexnet.pth, reference_googlenet_alexnet.npz) were made
once with torchvision's own GoogLeNet / AlexNet code at reduced widths by
tests/fixtures/make_torch_fixtures.py (see its docstring).
"""

import os

import jax
import numpy as np
import pytest

from parc_jax import models
from parc_jax.models import _pooling, alexnet, googlenet
from parc_jax.models._registry import IMAGENET, Builtin
from parc_jax.models.convert import read_state_dict, torch_to_flax

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "torch")
SMALL_GOOGLENET = dict(
    stem=(8, 8, 24),
    blocks=tuple((name, tuple(w // 8 for w in widths)) for name, widths in googlenet.BLOCKS),
)
SMALL_ALEXNET = dict(widths=(8, 24, 48, 32, 32), hidden=64)


@pytest.fixture(scope="module")
def ref():
    arrays = dict(np.load(os.path.join(FIX, "reference_googlenet_alexnet.npz")))
    for name in ("googlenet", "alexnet"):
        arrays[f"{name}_input"] = arrays[f"{name}_input_codes"].astype(np.float32) / 64 - 2
    return arrays


def _register_small():
    models.register(
        "tv_fixture_googlenet",
        Builtin(
            name="tv_fixture_googlenet",
            family="googlenet",
            make_module=lambda n: googlenet.GoogLeNet(num_classes=n, **SMALL_GOOGLENET),
            num_classes=1000,
            source_dataset="fixture",
            feature_dim=googlenet.feature_dim(SMALL_GOOGLENET["blocks"]),
            depth=googlenet.DEPTH,
            preprocessing=IMAGENET,
            head="fc",
            weights=None,
            init_size=64,
            ignored_modules=("aux1", "aux2"),
        ),
        replace=True,
    )
    models.register(
        "tv_fixture_alexnet",
        Builtin(
            name="tv_fixture_alexnet",
            family="alexnet",
            make_module=lambda n: alexnet.AlexNet(num_classes=n, **SMALL_ALEXNET),
            num_classes=1000,
            source_dataset="fixture",
            feature_dim=64,
            depth=alexnet.DEPTH,
            preprocessing=IMAGENET,
            head="classifier.6",
            weights=None,
            init_size=64,
        ),
        replace=True,
    )


@pytest.mark.parametrize("name,classes", [("googlenet", 10), ("alexnet", 37)])
def test_matches_torchvision(name, classes, ref):
    """Loaded through the zoo (DataParallel prefix, head size from the checkpoint): logits and
    features (the final Linear's input) as torchvision computes them."""
    _register_small()
    m = models.load(f"tv_fixture_{name}", weights_path=os.path.join(FIX, f"{name}.pth"))
    assert m.info.num_source_classes == classes
    logits, out = jax.jit(m.apply)(m.variables, ref[f"{name}_input"])
    np.testing.assert_allclose(out["features"], ref[f"{name}_features"], atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(logits, ref[f"{name}_logits"], atol=1e-4, rtol=1e-4)
    assert out["features"].shape[1] == m.info.feature_dim


@pytest.mark.parametrize("name", ["googlenet", "alexnet"])
def test_new_head_keeps_the_features(name, ref):
    _register_small()
    m = models.load(f"tv_fixture_{name}", weights_path=os.path.join(FIX, f"{name}.pth"), num_classes=5)
    logits, out = jax.jit(m.apply)(m.variables, ref[f"{name}_input"])
    assert logits.shape[1] == 5
    np.testing.assert_allclose(out["features"], ref[f"{name}_features"], atol=1e-4, rtol=1e-4)


def test_googlenet_ignores_auxiliary_heads(tmp_path, ref):
    """torchvision's pretrained GoogLeNet file carries aux1 / aux2 tensors, which are dropped."""
    from safetensors.numpy import save_file

    state = read_state_dict(os.path.join(FIX, "googlenet.pth"))
    state["aux1.fc2.weight"] = np.zeros((10, 4), np.float32)
    state["aux2.conv.conv.weight"] = np.zeros((4, 4, 1, 1), np.float32)
    path = tmp_path / "with_aux.safetensors"
    save_file(state, str(path))
    _register_small()
    m = models.load("tv_fixture_googlenet", weights_path=path)
    logits, _ = jax.jit(m.apply)(m.variables, ref["googlenet_input"])
    np.testing.assert_allclose(logits, ref["googlenet_logits"], atol=1e-4, rtol=1e-4)


def test_googlenet_without_transform_input_differs(ref):
    state = read_state_dict(os.path.join(FIX, "googlenet.pth"))
    model = googlenet.GoogLeNet(num_classes=10, transform_input=False, **SMALL_GOOGLENET)
    like = jax.eval_shape(model.init, jax.random.key(0), ref["googlenet_input"])
    logits, _ = model.apply(torch_to_flax(state, like), ref["googlenet_input"])
    assert not np.allclose(logits, ref["googlenet_logits"], atol=1e-2)


@pytest.mark.parametrize(
    "size,window,stride,padding,expected",
    [(112, 3, 2, 0, 56), (55, 3, 2, 0, 27), (14, 2, 2, 0, 7), (7, 3, 1, 1, 7), (6, 3, 2, 1, 4)],
)
def test_ceil_mode_output_sizes(size, window, stride, padding, expected):
    """torch: ceil((H + 2p - k) / s) + 1, less one when the last window starts in the padding."""
    x = np.zeros((1, size, size, 1), np.float32)
    assert _pooling.max_pool_ceil(x, window, stride, padding).shape[1] == expected


def test_adaptive_pool_bins():
    x = np.arange(7, dtype=np.float32).reshape(1, 7, 1, 1) * np.ones((1, 7, 7, 1), np.float32)
    pooled = np.asarray(_pooling.adaptive_avg_pool(x, (6, 6)))[0, :, 0, 0]
    # bins [floor(7i/6), ceil(7(i+1)/6)): [0,2) [1,3) [2,4) [3,5) [4,6) [5,7)
    np.testing.assert_allclose(pooled, [0.5, 1.5, 2.5, 3.5, 4.5, 5.5])


# Parameter counts from torchvision's model cards (GoogLeNet without its auxiliary heads).
@pytest.mark.parametrize(
    "name,dim,depth,params", [("googlenet", 1024, 22, 6_624_904), ("alexnet", 4096, 8, 61_100_840)]
)
def test_zoo_entries(name, dim, depth, params):
    info = models.describe(name)
    assert (info.feature_dim, info.depth, info.num_source_classes, info.num_params) == (dim, depth, 1000, params)
    assert name in models.names()
