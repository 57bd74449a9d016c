"""Torch-free checkpoint readers and the torch -> Flax mapping, against real torchvision / timm.

The fixtures under tests/fixtures/torch/ were made once with real torch / torchvision / timm by
tests/fixtures/make_torch_fixtures.py (see its docstring).
"""

import os
import pickle
import zipfile

import jax
import numpy as np
import pytest

from parc_jax import models
from parc_jax.models import resnet, vit
from parc_jax.models.convert import load_torch_file, read_state_dict, torch_key, torch_to_flax
from parc_jax.models.convert.reader import normalize_state_dict

FIX = os.path.join(os.path.dirname(__file__), "fixtures", "torch")
FORMATS = [".pth", ".legacy.pth", ".safetensors"]
BLOCKS = {"resnet_basic": "basic", "resnet_bottleneck": "bottleneck"}


@pytest.fixture(scope="module")
def ref():
    return dict(np.load(os.path.join(FIX, "reference.npz")))


def _small_resnet(block):
    return resnet.ResNet(block, (1, 1, 1, 1), num_classes=10, width=8)


def test_zip_and_legacy_are_detected_as_such():
    assert zipfile.is_zipfile(os.path.join(FIX, "resnet_basic.pth"))
    assert not zipfile.is_zipfile(os.path.join(FIX, "resnet_basic.legacy.pth"))


@pytest.mark.parametrize("stem", sorted(BLOCKS))
def test_three_formats_agree(stem):
    sds = [read_state_dict(os.path.join(FIX, stem + ext)) for ext in FORMATS]
    assert set(sds[0]) == set(sds[1]) == set(sds[2])
    assert "layer1.0.bn1.running_var" in sds[0]
    for key in sds[0]:
        for other in sds[1:]:
            assert sds[0][key].dtype == other[key].dtype, key
            np.testing.assert_array_equal(sds[0][key], other[key], err_msg=key)
    # num_batches_tracked was set to 7 by the generator: int64 scalars survive the round trip.
    assert sds[1]["bn1.num_batches_tracked"].dtype == np.int64
    assert int(sds[1]["bn1.num_batches_tracked"]) == 7


@pytest.mark.parametrize("ext", FORMATS)
@pytest.mark.parametrize("stem", sorted(BLOCKS))
def test_resnet_matches_torchvision(stem, ext, ref):
    model = _small_resnet(BLOCKS[stem])
    x = ref["resnet_input"]
    like = jax.eval_shape(model.init, jax.random.key(0), x)
    variables = torch_to_flax(read_state_dict(os.path.join(FIX, stem + ext)), like)
    logits, out = jax.jit(model.apply)(variables, x)
    np.testing.assert_allclose(logits, ref[f"{stem}_logits"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(out["features"], ref[f"{stem}_features"], atol=1e-4, rtol=0)
    assert out["stage4"].shape[-1] == out["features"].shape[-1]


def _register_fixture_resnet():
    from parc_jax.models._registry import IMAGENET, Builtin

    entry = Builtin(
        name="tv_fixture_resnet",
        family="resnet",
        make_module=lambda n: resnet.ResNet("basic", (1, 1, 1, 1), num_classes=n, width=8),
        num_classes=1000,
        source_dataset="fixture",
        feature_dim=64,
        depth=10,
        preprocessing=IMAGENET,
        head="fc",
        weights=None,
    )
    models.register("tv_fixture_resnet", entry, replace=True)


def test_load_with_registered_entry_matches_torchvision(ref):
    """register + load(weights_path=...): the head size (10) comes from the checkpoint."""
    _register_fixture_resnet()
    m = models.load("tv_fixture_resnet", weights_path=os.path.join(FIX, "resnet_basic.legacy.pth"))
    assert m.info.num_source_classes == 10
    assert m.info.weights.endswith("resnet_basic.legacy.pth")
    assert m.info.source_dataset == "fixture"
    logits, out = jax.jit(m.apply)(m.variables, ref["resnet_input"])
    np.testing.assert_allclose(logits, ref["resnet_basic_logits"], atol=1e-4, rtol=0)
    # A new class count re-initialises only the classifier: same features, new logits shape.
    m3 = models.load(
        "tv_fixture_resnet", weights_path=os.path.join(FIX, "resnet_basic.pth"), num_classes=3, rng=jax.random.key(1)
    )
    logits3, out3 = jax.jit(m3.apply)(m3.variables, ref["resnet_input"])
    assert logits3.shape == (3, 3) and m3.info.num_source_classes == 3
    np.testing.assert_allclose(out3["features"], ref["resnet_basic_features"], atol=1e-4, rtol=0)


def test_vit_matches_timm(ref):
    model = vit.VisionTransformer(embed_dim=32, depth=2, num_heads=2, patch_size=8, num_classes=10)
    x = ref["vit_input"]
    like = jax.eval_shape(model.init, jax.random.key(0), x)
    variables = torch_to_flax(read_state_dict(os.path.join(FIX, "vit.safetensors")), like)
    logits, out = jax.jit(model.apply)(variables, x)
    np.testing.assert_allclose(logits, ref["vit_logits"], atol=1e-4, rtol=0)
    np.testing.assert_allclose(out["features"], ref["vit_features"], atol=1e-4, rtol=0)
    assert out["blocks.1"].shape == (3, 1 + 16, 32)


def test_torch_key_names():
    assert torch_key(("params", "layer1.0", "conv1", "kernel")) == "layer1.0.conv1.weight"
    assert torch_key(("params", "bn1", "scale")) == "bn1.weight"
    assert torch_key(("batch_stats", "bn1", "var")) == "bn1.running_var"
    assert torch_key(("params", "cls_token")) == "cls_token"


def test_mapping_rejects_wrong_architecture(ref):
    sd = read_state_dict(os.path.join(FIX, "resnet_basic.safetensors"))
    bottleneck = _small_resnet("bottleneck")
    like = jax.eval_shape(bottleneck.init, jax.random.key(0), ref["resnet_input"])
    with pytest.raises(ValueError, match="missing|shape"):
        torch_to_flax(sd, like)
    basic = _small_resnet("basic")
    like = jax.eval_shape(basic.init, jax.random.key(0), ref["resnet_input"])
    with pytest.raises(ValueError, match="not used"):
        torch_to_flax({**sd, "extra.weight": np.zeros(3, np.float32)}, like)
    bad = dict(sd)
    bad["fc.weight"] = bad["fc.weight"][:5]
    with pytest.raises(ValueError, match="fc.weight has shape"):
        torch_to_flax(bad, like)


def test_load_resnet18_on_wrong_checkpoint_fails_clearly():
    with pytest.raises(ValueError, match="wrong architecture"):
        models.load("resnet18", weights_path=os.path.join(FIX, "resnet_basic.pth"))


def _legacy_bytes(obj_pickle: bytes, keys=(), storages=b"") -> bytes:
    head = b"".join(
        pickle.dumps(o, protocol=2)
        for o in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True})
    )
    return head + obj_pickle + pickle.dumps(list(keys), protocol=2) + storages


def test_restricted_unpickler_refuses_code(tmp_path):
    evil = pickle.dumps(os.system, protocol=2)  # a GLOBAL posix.system reference
    legacy = tmp_path / "evil.pth"
    legacy.write_bytes(_legacy_bytes(evil))
    with pytest.raises(ValueError, match="refusing to unpickle"):
        load_torch_file(legacy)
    zipped = tmp_path / "evil_zip.pth"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("archive/data.pkl", evil)
    with pytest.raises(ValueError, match="refusing to unpickle"):
        load_torch_file(zipped)


def test_corrupt_and_foreign_files(tmp_path):
    src = tmp_path / "src.pth"
    data = open(os.path.join(FIX, "resnet_basic.legacy.pth"), "rb").read()
    src.write_bytes(data[: len(data) - 1000])  # storages cut short
    with pytest.raises(ValueError, match="truncated|corrupt"):
        read_state_dict(src)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match="not a torch checkpoint"):
        read_state_dict(junk)
    with pytest.raises(ValueError, match="does not exist"):
        read_state_dict(tmp_path / "absent.safetensors")
    bad_st = tmp_path / "bad.safetensors"
    bad_st.write_bytes(b"\x00" * 16)
    with pytest.raises(ValueError, match="safetensors"):
        read_state_dict(bad_st)


def test_wrapped_state_dict_is_unwrapped():
    """{"state_dict": {"module.x": ...}} (Lightning / DataParallel style) reads as {"x": ...}."""
    sd = read_state_dict(os.path.join(FIX, "resnet_basic.pth"))
    wrapped = {"epoch": 3, "state_dict": {"module." + k: v for k, v in sd.items()}}
    got = normalize_state_dict(wrapped, "wrapped")
    assert set(got) == set(sd)
    np.testing.assert_array_equal(got["fc.weight"], sd["fc.weight"])
    with pytest.raises(ValueError, match="no tensors"):
        normalize_state_dict({"state_dict": {"a": 1}}, "empty")
    with pytest.raises(ValueError, match="expected a state dict"):
        normalize_state_dict([1, 2], "list")


def test_weights_are_found_in_torch_hub_and_hf_caches(monkeypatch, tmp_path):
    """torchvision file names in $TORCH_HOME/hub/checkpoints, timm repos in the HF hub cache."""
    import shutil

    monkeypatch.setenv("PARC_JAX_WEIGHTS", str(tmp_path / "empty"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    assert models.describe("resnet18").weights == "random"
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    shutil.copy(os.path.join(FIX, "resnet_basic.pth"), hub / "resnet18-f37072fd.pth")
    assert models.describe("resnet18").weights == str(hub / "resnet18-f37072fd.pth")
    snap = tmp_path / "hf" / "models--timm--vit_tiny_patch16_224.augreg_in21k_ft_in1k" / "snapshots"
    (snap / "abc").mkdir(parents=True)
    shutil.copy(os.path.join(FIX, "vit.safetensors"), snap / "abc" / "model.safetensors")
    assert models.describe("vit_tiny_patch16_224").weights == str(snap / "abc" / "model.safetensors")
    # The fixture is a smaller network than ViT-Ti: found, read, and rejected with a reason.
    with pytest.raises(ValueError, match="wrong architecture"):
        models.load("vit_tiny_patch16_224")
