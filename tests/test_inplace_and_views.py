"""In-place operations and views behave exactly as in PyTorch: through views, under jit/vmap/grad."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest
import torch

from tests.conftest import assert_close
from torch2jax import t2j


def add_through_select(x):
    x[0].add_(1)
    return x


def setitem_column(x):
    x[:, 1] = 5
    return x


def iadd_with_index_tensor(x):
    idx = torch.tensor([0, 2, 2])
    x[idx] += 1
    return x


def zero_by_mask(x):
    x[x > 0] = 0
    return x


def zero_through_flat_view(x):
    x.view(-1).zero_()
    return x


def mul_through_transpose(x):
    x.t().mul_(2)
    return x


def fill_diagonal(x):
    x.diagonal().fill_(0)
    return x


def add_through_unsqueeze(x):
    x.unsqueeze(0).add_(1)
    return x


def out_argument(x):
    out = torch.empty_like(x)
    torch.mul(x, 3, out=out)
    torch.add(x, out, out=x)
    return x, out


def view_of_view(x):
    row = x[1]
    part = row[1:]
    part.mul_(-1)
    flat = x.view(-1)
    flat[0] = 42
    return x, row, part


def other_views_see_update(x):
    a = x[:, 0]
    b = x.t()
    x.add_(1)
    return a * 1, b * 1


def chain_of_inplace(x):
    y = x.clone()
    y.mul_(2).add_(3).clamp_(max=4)
    x.copy_(y)
    return x, y


CASES = [
    add_through_select,
    setitem_column,
    iadd_with_index_tensor,
    zero_by_mask,
    zero_through_flat_view,
    mul_through_transpose,
    fill_diagonal,
    add_through_unsqueeze,
    out_argument,
    view_of_view,
    other_views_see_update,
    chain_of_inplace,
]


@pytest.mark.parametrize("fn", CASES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_matches_pytorch(fn, jit):
    x = torch.randn(3, 3)
    expected = fn(x.clone())
    jf = jax.jit(t2j(fn)) if jit else t2j(fn)
    assert_close(jf(t2j(x)), expected)


@pytest.mark.parametrize(
    "fn", [add_through_select, fill_diagonal, mul_through_transpose, zero_by_mask]
)
def test_vmap_matches_per_example_pytorch(fn):
    xs = torch.randn(4, 3, 3)
    expected = torch.stack([fn(x.clone()) for x in xs])
    assert_close(jax.vmap(t2j(fn))(t2j(xs)), expected)


@pytest.mark.parametrize(
    "fn", [add_through_select, mul_through_transpose, fill_diagonal, zero_by_mask, view_of_view]
)
def test_grad_matches_autograd(fn):
    x = torch.randn(3, 3, requires_grad=True)

    def loss(v):
        out = fn(v * 1)
        out = out if isinstance(out, torch.Tensor) else out[0]
        return (out**2).sum()

    loss(x).backward()
    assert_close(jax.grad(t2j(loss))(t2j(x.detach())), x.grad)


def test_readme_inplace_example():
    def f(x):
        x.add_(1)
        x.mul_(2)
        return x

    jf = t2j(f)
    assert jf(jnp.array([3])).tolist() == [8]
    assert jax.vmap(jf)(jnp.array([1, 2, 3])).tolist() == [4, 6, 8]
    assert float(jax.grad(jf)(jnp.array(2.0))) == 2.0


def test_mask_assignment_under_jit_has_static_shape():
    def f(x, threshold):
        x[x > threshold] = 0
        return x

    x = torch.randn(5, 4)
    out = jax.jit(t2j(f))(t2j(x), jnp.float32(0.1))
    assert_close(out, f(x.clone(), torch.tensor(0.1)))


@pytest.mark.parametrize(
    "shape, pad",
    [((1, 2, 3), (1, 2)), ((2, 2, 3, 4), (1, 2, 2, 1)), ((1, 1, 2, 3, 4), (1, 1, 0, 1, 1, 1))],
)
def test_circular_padding_writes_into_slices_of_a_new_tensor(shape, pad):
    # PyTorch's C++ kernel fills an empty tensor through slice views, below functionalization.
    def fn(x):
        return (
            torch.nn.functional.pad(x, pad, mode="circular") * torch.arange(1.0, 1.0 + x.ndim)[-1]
        )

    x = torch.randn(*shape, requires_grad=True)
    out = fn(x)
    (out**2).sum().backward()
    assert_close(t2j(fn)(t2j(x.detach())), out)
    grad = jax.jit(jax.grad(lambda v: (t2j(fn)(v) ** 2).sum()))(t2j(x.detach()))
    assert_close(grad, x.grad)
