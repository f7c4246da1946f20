"""3-D transposed convolution in PyTorch's CPU order (ops/conv_transpose_order.py): bit for bit
where PyTorch runs its own SlowTranspose3d kernel on small float32 problems, XLA's convolution
(to float32 tolerance) elsewhere, gradients close to PyTorch's on both paths."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.conftest import assert_close, x64_set
from torch2jax import t2j
from torch2jax.ops import conv_transpose_order

# (input shape, weight shape, bias, keyword arguments): OpInfo's float32 samples of
# nn.functional.conv_transpose3d that PyTorch runs with SlowTranspose3d, and one more.
SMALL_CASES = {
    "strided_padded": ((1, 3, 4, 4, 4), (3, 3, 3, 3, 3), True, dict(stride=2, padding=2,
                       output_padding=1)),
    "unbatched": ((3, 4, 4, 4), (3, 3, 3, 3, 3), True, dict(stride=2, padding=2,
                  output_padding=1)),
    "grouped_dilated": ((2, 2, 4, 4, 4), (2, 2, 4, 5, 6), True, dict(
        stride=(3, 2, 1), padding=(1, 2, 3), output_padding=(2, 3, 1), groups=2,
        dilation=4)),
    "one_channel": ((1, 1, 4, 5, 2), (1, 1, 4, 3, 1), True, dict(
        stride=2, padding=1, output_padding=1, dilation=(2, 3, 2))),
    "no_bias": ((1, 4, 5, 5, 5), (4, 8, 3, 3, 3), False, {}),
    # One input channel: the product must stay rounded apart from the placement's addition.
    "one_channel_wide": ((1, 1, 2, 4, 4), (1, 4, 3, 2, 2), True, dict(
        stride=(1, 1, 2), padding=(2, 1, 0), output_padding=(0, 0, 1), dilation=(2, 1, 1))),
}  # fmt: skip

# Batched and 2 x 16 channels: PyTorch runs oneDNN here, and this lowering XLA's convolution.
LARGER_CASE = ((2, 16, 5, 5, 5), (16, 4, 3, 3, 3), True, dict(stride=2, padding=1))


def _tensors(case, seed: int) -> list[torch.Tensor]:
    x_shape, w_shape, with_bias, _ = case
    generator = torch.Generator().manual_seed(seed)
    # OpInfo's distribution (uniform in [-9, 9]) and a standard normal one.
    draw = (lambda s: torch.rand(s, generator=generator) * 18 - 9) if seed % 2 else (
        lambda s: torch.randn(s, generator=generator))  # fmt: skip
    tensors = [draw(x_shape), draw(w_shape)]
    if with_bias:
        tensors.append(draw((w_shape[1] * case[3].get("groups", 1),)))
    return tensors


def _function(case):
    kwargs = case[3]
    return lambda x, w, *bias: F.conv_transpose3d(x, w, *bias, **kwargs)


def _arrays(tensors: list[torch.Tensor]) -> list[jax.Array]:
    return [jnp.asarray(t.detach().numpy()) for t in tensors]


def _takes_ordered_path(case) -> bool:
    x_shape, w_shape, _, kwargs = case
    x = jnp.zeros((1, *x_shape) if len(x_shape) == 4 else x_shape, jnp.float32)

    def triple(name: str, default: int) -> tuple[int, ...]:
        value = kwargs.get(name, default)
        return tuple(value) if isinstance(value, tuple) else (value,) * 3

    return conv_transpose_order.follows_pytorch_order(
        x,
        jnp.zeros(w_shape, jnp.float32),
        triple("stride", 1),
        triple("padding", 0),
        triple("dilation", 1),
        triple("output_padding", 0),
        kwargs.get("groups", 1),
    )


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", list(SMALL_CASES))
def test_small_cases_bit_for_bit_eager_and_jit(name, seed, x64_on):
    case = SMALL_CASES[name]
    assert _takes_ordered_path(case)
    tensors = _tensors(case, seed)
    expected = _function(case)(*tensors).numpy()
    converted = t2j(_function(case))
    arrays = _arrays(tensors)
    np.testing.assert_array_equal(np.asarray(converted(*arrays)), expected)
    np.testing.assert_array_equal(np.asarray(jax.jit(converted)(*arrays)), expected)


def _check_values_and_gradients(case, seed: int) -> None:
    tensors = [t.requires_grad_() for t in _tensors(case, seed)]
    expected = _function(case)(*tensors)
    expected_grads = torch.autograd.grad(expected.sum(), tensors)
    converted = t2j(_function(case))
    arrays = _arrays(tensors)

    def loss(*args):
        return converted(*args).sum()

    argnums = tuple(range(len(arrays)))
    assert_close(converted(*arrays), expected)
    assert_close(jax.jit(converted)(*arrays), expected)
    assert_close(jax.grad(loss, argnums)(*arrays), expected_grads)
    assert_close(jax.jit(jax.grad(loss, argnums))(*arrays), expected_grads)


def test_gradients_through_the_ordered_path(x64_on):
    assert _takes_ordered_path(SMALL_CASES["strided_padded"])
    _check_values_and_gradients(SMALL_CASES["strided_padded"], seed=0)


def test_larger_case_keeps_xla_convolution(x64_on):
    assert not _takes_ordered_path(LARGER_CASE)
    _check_values_and_gradients(LARGER_CASE, seed=0)


def test_without_x64_keeps_xla_convolution():
    with x64_set(False):
        case = SMALL_CASES["strided_padded"]
        assert not _takes_ordered_path(case)  # the fused multiply-adds are emulated in float64
        _check_values_and_gradients(case, seed=0)


def test_ordered_path_only_where_pytorch_runs_slow_transpose_3d():
    # Batched input: PyTorch's dispatch picks oneDNN, whose order is not reproduced.
    batched = ((2, 3, 4, 4, 4), (3, 3, 3, 3, 3), True, dict(stride=2, padding=2))
    assert not _takes_ordered_path(batched)
    for case in SMALL_CASES.values():
        x_shape, w_shape, _, kwargs = case
        x = torch.empty((1, *x_shape) if len(x_shape) == 4 else x_shape)
        backend = torch._C._select_conv_backend(
            x,
            torch.empty(w_shape),
            None,
            *(_triple(kwargs.get(k, d)) for k, d in (("stride", 1), ("padding", 0))),
            _triple(kwargs.get("dilation", 1)),
            True,
            _triple(kwargs.get("output_padding", 0)),
            kwargs.get("groups", 1),
            None,
        )
        assert backend == torch._C._ConvBackend.SlowTranspose3d


def _triple(value) -> list[int]:
    return list(value) if isinstance(value, tuple) else [value] * 3
