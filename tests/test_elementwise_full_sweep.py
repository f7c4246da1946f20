"""Elementwise and indexing cases that only the full OpInfo sweep found (every dtype, 8 samples):
values, dtypes and gradients against PyTorch, eagerly and under jit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
import torch

from tests.conftest import assert_close, x64_set
from torch2jax import t2j


def _both(fn, *tensors, check_dtype=True):
    """``fn`` through t2j, eagerly and under jit, against PyTorch on the same tensors."""
    expected = fn(*tensors)
    arrays = [t2j(t) for t in tensors]
    assert_close(t2j(fn)(*arrays), expected, check_dtype=check_dtype)
    assert_close(jax.jit(t2j(fn))(*arrays), expected, check_dtype=check_dtype)


def _gradient(fn, x: torch.Tensor):
    x = x.detach().requires_grad_(True)
    fn(x).sum().backward()
    actual = jax.grad(lambda a: t2j(fn)(a).sum())(t2j(x.detach()))
    assert_close(actual, x.grad)


@pytest.mark.parametrize("mode", ["trunc", "floor"])
def test_integer_division_with_rounding_broadcasts(x64, mode):
    a = torch.tensor([[-7], [7], [5]])
    b = torch.tensor([2, -3])
    _both(lambda a, b: torch.div(a, b, rounding_mode=mode), a, b, check_dtype=x64)
    _both(lambda a, b: torch.div(b, a, rounding_mode=mode), a, b, check_dtype=x64)


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool, torch.float32])
def test_heaviside_keeps_the_dtype_and_maps_nan_to_zero(x64, dtype):
    x = torch.tensor([[-2, 0, 3]]).to(dtype)
    values = torch.tensor([[5], [0]]).to(dtype)
    _both(torch.heaviside, x, values, check_dtype=x64)
    nan = torch.tensor([float("nan"), 0.0, -1.0])
    _both(torch.heaviside, nan, torch.tensor([0.5]))


@pytest.mark.parametrize("alpha", [True, False])
def test_bool_index_add_is_a_logical_or(alpha):
    x = torch.tensor([[True, False], [False, False], [False, True]])
    source = torch.tensor([[True, True], [False, False]])
    index = torch.tensor([1, 0])
    _both(lambda x, s: torch.index_add(x, 0, index, s, alpha=alpha), x, source)
    zero_d = torch.tensor(False)
    _both(
        lambda x, s: torch.index_add(x, 0, torch.tensor([0]), s, alpha=alpha),
        zero_d,
        torch.tensor(True),
    )


@pytest.mark.parametrize("eps", [0.6, 0.3, None])
@pytest.mark.parametrize("dtype", [torch.float32, torch.int64, torch.bool])
def test_logit_clamps_in_pytorchs_order(eps, dtype):
    x = torch.tensor([0.0, 0.2, 0.5, 0.7, 1.0]) if dtype == torch.float32 else torch.tensor([0, 1])
    x = x.to(dtype)
    _both(lambda x: torch.logit(x, eps), x)
    if dtype == torch.float32:
        _gradient(lambda x: torch.logit(x, eps), torch.tensor([0.1, 0.35, 0.5, 0.65, 0.9]))


def test_masked_select_of_zero_dimensional_operands():
    x, mask = torch.tensor(2.5), torch.tensor(True)
    assert_close(t2j(torch.masked_select)(t2j(x), t2j(mask)), torch.masked_select(x, mask))
    x = torch.tensor([1.0, 2.0, 3.0])
    assert_close(
        t2j(torch.masked_select)(t2j(x), t2j(mask)), torch.masked_select(x, mask)
    )  # a 0-d mask broadcasts
    _gradient(lambda x: torch.masked_select(x, torch.tensor(True)), torch.tensor(2.5))


def test_gather_and_scatter_with_an_empty_index_of_another_rank():
    x = torch.randn(5)
    index = torch.empty(2, 0, dtype=torch.long)
    _both(lambda x: torch.gather(x, 0, index), x)
    _both(lambda x: torch.scatter(x, 0, index, torch.ones(2, 0)), x)
    _both(lambda x: torch.scatter_add(x, 0, index, torch.ones(2, 0)), x)
    _both(lambda x: torch.scatter_reduce(x, 0, index, torch.ones(2, 0), "amax"), x)
    _gradient(lambda x: torch.gather(x, 0, index).sum() + x, x)


@pytest.mark.parametrize("start", [1, -3, 0])
def test_narrow_at_a_tensor_start_works_under_jit(x64, start):
    x = torch.arange(20).reshape(4, 5)
    start_tensor = torch.tensor(start)
    fn = lambda x, s: torch.narrow(x, 1, s, 3)  # noqa: E731
    method = lambda x, s: x.narrow(-1, s, 2)  # noqa: E731
    _both(fn, x, start_tensor, check_dtype=x64)
    _both(method, x, start_tensor, check_dtype=x64)
    grad = jax.grad(lambda x, s: t2j(fn)(x, s).sum())(jnp.ones((4, 5)), t2j(start_tensor))
    expected = torch.zeros(4, 5)
    expected[:, start % 5 : start % 5 + 3] = 1
    assert_close(grad, expected)


def test_narrow_at_a_concrete_tensor_start_stays_a_view():
    def fn(x):
        x.narrow(0, torch.tensor(1), 2).mul_(10)
        return x

    x = torch.arange(4.0)
    assert_close(t2j(fn)(t2j(x)), fn(x.clone()))


def test_narrow_rejects_a_non_integral_start():
    with pytest.raises(RuntimeError, match="0-dim integral"):
        t2j(lambda x: torch.narrow(x, 0, torch.tensor(1.0), 2))(jnp.arange(4.0))


def test_take_along_dim_with_x64_off_and_on(x64):
    x = torch.randn(3, 4)
    indices = torch.tensor([[0, 3], [1, 1], [2, 0]])
    _both(lambda x, i: torch.take_along_dim(x, i, 1), x, indices)
    _both(lambda x, i: x.take_along_dim(i), x, indices)  # flattened
    # Broadcasting outside dim, as PyTorch's own decomposition does.
    _both(lambda x, i: torch.take_along_dim(x, i, 0), x, torch.tensor([[2], [0]]))
    _gradient(lambda x: torch.take_along_dim(x, indices, 1), x)


def test_take_along_dim_refuses_int32_indices_with_x64_on():
    with x64_set(True):
        fn = t2j(lambda x, i: torch.take_along_dim(x, i, 0))
        with pytest.raises(RuntimeError, match="should be Long but got Int"):
            fn(jnp.ones((3,)), jnp.array([0, 1], jnp.int32))


def test_as_strided_within_the_tensor_follows_pytorch():
    x = torch.arange(10.0)
    fn = lambda x: torch.as_strided(x, (2, 2), (1, 2), storage_offset=3)  # noqa: E731
    _both(fn, x)
    _gradient(fn, x)


def test_as_strided_past_the_tensors_own_elements_raises_a_clear_error():
    # PyTorch's OpInfo sample views a larger base's storage (base[5:15] read at offset 10); a JAX
    # array holds only its own elements, so this raises instead of clamping silently.
    fn = t2j(lambda x: torch.as_strided(x, (2, 2), (1, 2), storage_offset=10))
    with pytest.raises(RuntimeError, match="storage is its own elements"):
        fn(jnp.arange(10.0))


@pytest.mark.parametrize("density", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_histogram_with_bin_edges(density, weighted):
    x = torch.tensor([[0.0, 1.0, 2.5], [3.0, -1.0, float("nan")]])
    edges = torch.tensor([0.0, 1.0, 2.0, 3.0])  # the last edge is inclusive
    weight = torch.tensor([[1.0, 2.0, 0.5], [3.0, 1.0, 1.0]]) if weighted else None

    def fn(x, edges):
        return torch.histogram(x, edges, weight=weight, density=density)

    _both(fn, x, edges)


def test_histogram_with_a_bin_count_under_jit():
    x = torch.tensor([0.5, 1.5, 1.5, 4.0])
    _both(lambda x: torch.histogram(x, 3), x)
    _both(lambda x: torch.histogram(x, 4, range=(0.0, 2.0), density=True), x)


def test_i0_derivative_is_i1():
    _gradient(torch.special.i0, torch.tensor([0.0, -0.0, 1.5, -2.0, 7.9]))
    _gradient(torch.i0, torch.tensor([0.0, 3.0]))
