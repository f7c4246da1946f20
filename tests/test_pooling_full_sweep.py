"""Pooling and normalization cases the full OpInfo sweep found wrong, checked against PyTorch:
average pooling's padding counts and integer results, gradients of dilated max pooling (ties
included), batch norm of an empty 1-D input, local response norm of integers."""

from __future__ import annotations

import jax
import pytest
import torch
import torch.nn.functional as F

from tests.conftest import assert_close
from torch2jax import t2j

# (kernel, stride, padding, ceil_mode, count_include_pad, divisor_override), per dimensionality.
AVG_POOL_CASES = {
    1: [
        ((3,), (1,), (1,), False, True, None),
        ((6,), (3,), (2,), True, True, None),
        ((7,), (3,), (3,), True, False, None),
        ((3,), (2,), (1,), True, False, None),
    ],
    2: [
        ((4, 4), (2, 2), (2, 2), True, True, None),
        ((3, 3), (2, 3), (1, 1), True, False, None),
        ((2, 2), (2, 2), (0, 0), False, True, -2),
        ((3, 2), (1, 2), (1, 1), False, True, 5),
    ],
    3: [
        ((2, 3, 4), (1, 2, 2), (0, 1, 2), False, True, None),
        ((4, 5, 6), (2, 3, 2), (2, 2, 2), True, True, None),
        ((2, 2, 2), (1, 1, 1), (1, 1, 1), True, False, 2),
    ],
}
AVG_POOL_FUNCTIONS = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
SHAPES = {1: (2, 3, 9), 2: (1, 2, 7, 6), 3: (1, 2, 6, 5, 6)}


def _avg_pool_cases():
    for dims, cases in AVG_POOL_CASES.items():
        for i, case in enumerate(cases):
            yield pytest.param(dims, case, id=f"{dims}d-{i}")


def _avg_pool(dims: int, case: tuple):
    kernel, stride, padding, ceil_mode, count_include_pad, divisor = case
    extra = {} if dims == 1 else {"divisor_override": divisor}

    def fn(x):
        return AVG_POOL_FUNCTIONS[dims](
            x, kernel, stride, padding, ceil_mode, count_include_pad, **extra
        )

    return fn


def _grads(fn, x: torch.Tensor, weights: torch.Tensor):
    """PyTorch's and t2j's gradient of ``sum(fn(x) * weights)``."""
    x = x.detach().requires_grad_(True)
    (fn(x) * weights).sum().backward()
    converted = t2j(fn)
    actual = jax.grad(lambda a: (converted(a) * t2j(weights)).sum())(t2j(x.detach()))
    return actual, x.grad


@pytest.mark.parametrize(("dims", "case"), _avg_pool_cases())
def test_avg_pool_values_and_gradients(dims, case):
    fn = _avg_pool(dims, case)
    x = torch.randn(SHAPES[dims])
    expected = fn(x)
    assert_close(jax.jit(t2j(fn))(t2j(x)), expected)
    actual, expected_grad = _grads(fn, x, torch.randn(expected.shape))
    assert_close(actual, expected_grad)


@pytest.mark.parametrize(("dims", "case"), _avg_pool_cases())
def test_avg_pool_of_integers_keeps_dtype_and_truncates(dims, case, x64):
    # PyTorch divides the integer sum, rounding toward zero; negative sums show the difference.
    fn = _avg_pool(dims, case)
    x = torch.randint(-9, 10, SHAPES[dims])
    expected = fn(x)
    actual = t2j(fn)(t2j(x))
    assert_close(actual, expected, atol=0, rtol=0, check_dtype=x64)


@pytest.mark.parametrize(
    ("pool", "shape", "kwargs"),
    [
        (F.max_pool1d, (2, 3, 10), {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 2}),
        (
            F.max_pool2d,
            (1, 2, 7, 8),
            {"kernel_size": (2, 3), "dilation": (1, 2), "ceil_mode": True},
        ),
        (F.max_pool3d, (1, 2, 5, 6, 5), {"kernel_size": 2, "stride": 1, "dilation": (2, 1, 2)}),
    ],
    ids=["1d", "2d", "3d"],
)
@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
def test_dilated_max_pool_gradient_goes_to_pytorchs_choice(pool, shape, kwargs, ties):
    # With ties, PyTorch gives the whole gradient to the first maximum of each window.
    x = torch.randint(0, 3, shape).float() if ties else torch.randn(shape)

    def fn(x):
        return pool(x, **kwargs)

    def with_indices(x):
        return pool(x, return_indices=True, **kwargs)

    assert_close(jax.jit(t2j(fn))(t2j(x)), fn(x))
    assert_close(t2j(with_indices)(t2j(x)), with_indices(x))
    actual, expected = _grads(fn, x, torch.randn(fn(x).shape))
    assert_close(actual, expected)


@pytest.mark.parametrize("training", [False, True], ids=["eval", "training"])
def test_batch_norm_of_an_empty_1d_input(training):
    def fn(x, running_mean, running_var):
        return F.batch_norm(x, running_mean, running_var, training=training)

    x, running_mean, running_var = torch.randn(0), torch.zeros(0), torch.ones(0)
    actual = t2j(fn)(t2j(x), t2j(running_mean), t2j(running_var))
    assert_close(actual, fn(x, running_mean, running_var))


def test_local_response_norm_of_integers(x64):
    # Its average pooling of squared integers runs in integers: the dtype is PyTorch's default
    # float, and the truncated averages show in the values.
    x = torch.randint(-9, 10, (2, 6, 5))

    def fn(x):
        return F.local_response_norm(x, 3, alpha=0.5, beta=0.75, k=1.0)

    assert_close(t2j(fn)(t2j(x)), fn(x), check_dtype=True)
