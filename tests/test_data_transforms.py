"""Eval transforms (resize + centre crop + RGB + normalise) and training augmentation."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from parc_jax import data, models
from parc_jax.data import augment
from parc_jax.data import preprocessing as pp


@dataclasses.dataclass(frozen=True)
class Prep:
    input_size: int = 224
    resize_size: int = 256
    mean: tuple = (123.675, 116.28, 103.53)
    std: tuple = (58.395, 57.12, 57.375)


IDENTITY = Prep(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


def _reference(images, resize_size, input_size):
    """Resize the whole image (jax.image.resize, antialiased), then crop, as torchvision does."""
    b, h, w, c = images.shape
    nh, nw = pp.resized_shape(h, w, resize_size)
    r = jax.image.resize(jnp.asarray(images, jnp.float32), (b, nh, nw, c), "bilinear", antialias=True)
    top, left = int(round((nh - input_size) / 2)), int(round((nw - input_size) / 2))
    return np.asarray(r[:, top : top + input_size, left : left + input_size])


def test_resized_shape_follows_torchvision():
    assert pp.resized_shape(28, 28, 256) == (256, 256)
    assert pp.resized_shape(300, 400, 256) == (256, 341)
    assert pp.resized_shape(500, 260, 256) == (492, 256)


@pytest.mark.parametrize("shape", [(3, 28, 28, 1), (2, 300, 400, 3), (2, 500, 260, 3)])
def test_eval_transform_equals_resize_then_crop(shape):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, shape, dtype=np.uint8)
    out = np.asarray(data.eval_transform(x, IDENTITY))
    assert out.shape == (shape[0], 224, 224, 3) and out.dtype == np.float32
    ref = _reference(x, 256, 224)
    np.testing.assert_allclose(out, np.broadcast_to(ref, out.shape), atol=0.02)


def test_grayscale_to_rgb_and_normalisation():
    x = np.full((2, 32, 32, 1), 200, np.uint8)
    prep = Prep(input_size=16, resize_size=20)
    out = np.asarray(data.eval_transform(x, prep))
    expected = (200.0 - np.array(prep.mean)) / np.array(prep.std)
    np.testing.assert_allclose(out, np.broadcast_to(expected, out.shape), rtol=1e-5)


def test_antialiasing_on_a_real_image():
    """Shrinking a real photo: our resize agrees with PIL's antialiased bilinear, not nearest."""
    cat = skdata.chelsea()  # 300 x 451 x 3
    prep = Prep(input_size=64, resize_size=64, mean=(0, 0, 0), std=(1, 1, 1))
    out = np.asarray(data.eval_transform(cat[None], prep))[0]
    nh, nw = pp.resized_shape(*cat.shape[:2], 64)
    pil = np.asarray(Image.fromarray(cat).resize((nw, nh), Image.BILINEAR), np.float32)
    left = int(round((nw - 64) / 2))
    pil = pil[:, left : left + 64]
    nearest = np.asarray(Image.fromarray(cat).resize((nw, nh), Image.NEAREST), np.float32)
    nearest = nearest[:, left : left + 64]
    err = np.abs(out - pil).mean()
    assert err < 2.0, err
    assert err < 0.5 * np.abs(out - nearest).mean()


def test_checkerboard_is_smoothed_when_shrunk():
    board = (np.indices((256, 256)).sum(0) % 2 * 255).astype(np.uint8)[None, ..., None]
    out = np.asarray(data.eval_transform(board, Prep(32, 32, (0, 0, 0), (1, 1, 1))))
    np.testing.assert_allclose(out, 127.5, atol=1.0)


def test_eval_transform_traces_once_per_shape():
    x = np.zeros((4, 28, 28, 1), np.uint8)
    before = models.preprocess_images._cache_size()
    for _ in range(3):
        data.eval_transform(x, Prep(input_size=32, resize_size=40))
    assert models.preprocess_images._cache_size() == before + 1


def test_bad_preprocessing_and_images():
    with pytest.raises(ValueError, match="input_size <= resize_size"):
        data.eval_transform(np.zeros((1, 8, 8, 3), np.uint8), Prep(input_size=10, resize_size=5))
    with pytest.raises(ValueError, match="C in"):
        data.eval_transform(np.zeros((1, 8, 8, 2), np.uint8), IDENTITY)
    with pytest.raises(ValueError, match="input_size, resize_size, mean and std"):
        data.eval_transform(np.zeros((1, 8, 8, 3), np.uint8), object())


def test_crop_boxes_follow_random_resized_crop_ranges():
    rng = np.random.default_rng(0)
    boxes = augment.sample_crop_boxes(rng, 2000, 40, 60)
    top, left, h, w = boxes.T
    assert (top >= 0).all() and (left >= 0).all()
    assert (top + h <= 40).all() and (left + w <= 60).all() and (h > 0).all() and (w > 0).all()
    area = h * w / (40 * 60)
    assert area.min() >= 0.06 and area.max() <= 1.0 and area.mean() > 0.3
    assert ((w / h) > 0.7).all() and ((w / h) < 1.45).all()


def test_train_transform_deterministic_in_seed_and_step():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (8, 28, 28, 1), dtype=np.uint8)
    a = np.asarray(data.train_transform(x, Prep(), seed=3, step=10))
    b = np.asarray(data.train_transform(x, Prep(), seed=3, step=10))
    c = np.asarray(data.train_transform(x, Prep(), seed=3, step=11))
    d = np.asarray(data.train_transform(x, Prep(), seed=4, step=10))
    assert a.shape == (8, 224, 224, 3) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, d)


def test_full_box_crop_is_a_resize_and_flip_mirrors():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (4, 30, 30, 3), dtype=np.uint8)
    boxes = np.tile([0, 0, 30, 30], (4, 1))
    flips = np.array([False, True, False, True])
    out = np.asarray(augment.crop_resize_flip(x, boxes, flips, Prep(60, 60, (0, 0, 0), (1, 1, 1))))
    ref = np.asarray(jax.image.resize(x.astype(np.float32), (4, 60, 60, 3), "bilinear"))
    np.testing.assert_allclose(out[0], ref[0], atol=1e-3)
    np.testing.assert_allclose(out[1], ref[1][:, ::-1], atol=1e-3)
    # A box samples the image inside the box: the top-left quadrant upscaled 2x equals the resize
    # of the cropped quadrant, except on the last row/column, which blend with the pixel outside.
    quad = augment.crop_resize_flip(
        x[:1], np.array([[0, 0, 15, 15]]), np.array([False]), Prep(30, 30, (0, 0, 0), (1, 1, 1))
    )
    ref_q = jax.image.resize(x[:1, :15, :15].astype(np.float32), (1, 30, 30, 3), "bilinear")
    np.testing.assert_allclose(np.asarray(quad)[:, :-1, :-1], np.asarray(ref_q)[:, :-1, :-1], atol=1e-3)
