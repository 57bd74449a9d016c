"""The CPU depthwise convolution of EfficientNet-Lite equals XLA's grouped convolution."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from parc_jax.models.efficientnet_lite import DepthwiseConv


def _grouped(x, kernel, stride):
    return jax.lax.conv_general_dilated(
        x,
        kernel,
        (stride, stride),
        "SAME",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=x.shape[-1],
        precision=jax.lax.Precision.HIGHEST,
    )


@pytest.mark.parametrize("size,kernel_size,stride", [(9, 3, 2), (8, 5, 2), (7, 5, 1)])
def test_matches_grouped_convolution_and_its_gradients(size, kernel_size, stride):
    x = jax.random.normal(jax.random.key(0), (2, size, size, 6))
    module = DepthwiseConv(kernel_size, stride)
    variables = module.init(jax.random.key(1), x)
    kernel = variables["params"]["kernel"]
    assert kernel.shape == (kernel_size, kernel_size, 1, 6)
    got = jax.jit(module.apply)(variables, x)
    want = _grouped(x, kernel, stride)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    loss = lambda fn: lambda k, x: jnp.sum(fn(k, x) ** 2)
    g_got = jax.grad(loss(lambda k, x: module.apply({"params": {"kernel": k}}, x)), argnums=(0, 1))(kernel, x)
    g_want = jax.grad(loss(lambda k, x: _grouped(x, k, stride)), argnums=(0, 1))(kernel, x)
    for a, b in zip(g_got, g_want):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
