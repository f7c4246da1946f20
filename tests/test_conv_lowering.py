"""Convolutions on the matrix-product path (deep layers at small batch, XLA:CPU) match PyTorch,
gradients included; the layout choice must never change results."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
import torch

from tests.conftest import assert_close
from torch2jax import t2j
from torch2jax.ops.nn import _matmul_is_cheaper, _weight_gradient_as_matmul

# (batch, in, out, size, kernel, stride, padding, dilation, bias)
CASES = [
    (1, 8, 32, 5, 3, 1, 1, 1, False),
    (1, 8, 64, 7, 3, 2, 1, 1, True),
    (2, 6, 64, 4, 1, 1, 0, 1, False),
    (1, 6, 64, 8, 1, 2, 0, 1, True),
    (1, 4, 40, 6, (3, 2), (2, 1), (0, 1), (2, 1), True),
    (1, 5, 48, 5, 5, 1, 2, 1, False),
    (1, 4, 64, 7, 3, 1, 2, 2, True),
    (1, 3, 48, 6, (3, 2), 1, (1, 0), (1, 2), False),
    (1, 3, 64, 32, 8, 8, 0, 1, True),  # patchify stem (ViT): disjoint tiles, no gather
    (1, 2, 40, 11, (2, 3), (2, 3), 0, 1, False),  # tiles leaving trailing rows and columns
]


def _assert_values_and_gradients_match_pytorch(conv, x):
    """``sum(sin(conv(x)))`` through the jitted conversion: the output, the input's gradient and
    every parameter's gradient match PyTorch. Returns the converted parameters and the loss."""
    params = {k: t2j(v) for k, v in conv.state_dict().items()}
    jconv = t2j(conv)

    def loss(params, x):
        return jnp.sum(jnp.sin(jconv(x, state_dict=params)))

    assert_close(jax.jit(lambda p, x: jconv(x, state_dict=p))(params, t2j(x)), conv(x))
    grads = jax.jit(jax.grad(loss, argnums=(0, 1)))(params, t2j(x))
    x.requires_grad_(True)
    torch.sin(conv(x)).sum().backward()
    assert_close(grads[1], x.grad, atol=1e-4, rtol=1e-4)
    for name, p in conv.named_parameters():
        assert_close(grads[0][name], p.grad, atol=1e-4, rtol=1e-4)
    return params, loss


@pytest.mark.parametrize("case", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_matmul_path_matches_pytorch(case):
    batch, cin, cout, size, kernel, stride, padding, dilation, bias = case
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(cin, cout, kernel, stride, padding, dilation, bias=bias)
    x = torch.randn(batch, cin, size, size)
    stride_pair = (stride, stride) if isinstance(stride, int) else stride
    assert _matmul_is_cheaper(x.shape, conv.weight.shape, stride_pair, 1)
    _assert_values_and_gradients_match_pytorch(conv, x)


def test_unbatched_input_on_the_matmul_path():
    conv = torch.nn.Conv2d(4, 32, 3, padding=1)
    x = torch.randn(4, 5, 5)
    assert_close(t2j(conv)(t2j(x)), conv(x))


def test_wide_images_keep_the_xla_convolution():
    assert not _matmul_is_cheaper((8, 64, 56, 56), (64, 64, 3, 3), (1, 1), 1)
    assert not _matmul_is_cheaper((1, 64, 7, 7), (64, 1, 3, 3), (1, 1), 64)


@pytest.mark.parametrize(
    "case",
    [
        (2, 3, 8, 9, 3, 1, 1, 1),
        (2, 3, 8, 11, 7, 2, 3, 1),
        (1, 4, 6, 10, 3, 2, 2, 2),
        (2, 3, 5, 9, 3, 1, 2, 2),
        (1, 3, 5, 8, (3, 2), 1, (1, 0), (1, 2)),
        (2, 3, 4, 10, (2, 3), (2, 3), 0, 1),
    ],
    ids=["3x3", "7x7_stride2", "dilated", "dilated_stride1", "uneven_stride1", "tiles"],
)
def test_weight_gradient_as_matmul_matches_pytorch(case):
    batch, cin, cout, size, kernel, stride, padding, dilation = case
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(cin, cout, kernel, stride, padding, dilation)
    x = torch.randn(batch, cin, size, size)
    stride_pair = (stride, stride) if isinstance(stride, int) else stride
    assert not _matmul_is_cheaper(x.shape, conv.weight.shape, stride_pair, 1)
    assert _weight_gradient_as_matmul(x.shape, conv.weight.shape, 1)
    params, loss = _assert_values_and_gradients_match_pytorch(conv, x)
    # Forward mode works too (a custom JVP, not a custom VJP).
    tangent = {k: jnp.ones_like(v) for k, v in params.items()}
    _, jvp_out = jax.jvp(lambda p: loss(p, t2j(x.detach())), (params,), (tangent,))
    with torch.no_grad():
        expected = (
            torch.cos(conv(x))
            * torch.nn.functional.conv2d(
                x,
                torch.ones_like(conv.weight),
                torch.ones_like(conv.bias),
                stride,
                padding,
                dilation,
            )
        ).sum()
    assert_close(jvp_out, expected, atol=1e-3, rtol=1e-4)


def test_larger_batches_keep_xla_weight_gradient_convolution():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
    x = torch.randn(4, 3, 12, 12)
    assert not _weight_gradient_as_matmul(x.shape, conv.weight.shape, 1)
    _assert_values_and_gradients_match_pytorch(conv, x)
