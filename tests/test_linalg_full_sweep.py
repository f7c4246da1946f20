"""Linear-algebra failures of the full OpInfo sweep, as focused regressions against PyTorch:
the Cholesky solvers' gradients (PyTorch differentiates the whole factor argument), eig on empty
matrices, and the vector norms' subgradients at zero."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from torch2jax import t2j


def _close(actual, expected, atol=1e-5, rtol=1e-5):
    torch.testing.assert_close(
        torch.from_numpy(np.array(actual)), expected.detach(), atol=atol, rtol=rtol
    )


def _value_and_gradients(fn, *tensors):
    """PyTorch's value and the gradients of its sum, and t2j's under jax.jit."""
    inputs = [t.detach().clone().requires_grad_() for t in tensors]
    expected = fn(*inputs)
    grads = torch.autograd.grad(expected.sum(), inputs, allow_unused=True)
    expected_grads = [
        torch.zeros_like(t) if g is None else g for t, g in zip(inputs, grads, strict=True)
    ]
    converted = t2j(fn)

    def loss(*arrays):
        return jnp.sum(converted(*arrays))

    arrays = [t2j(t.detach()) for t in tensors]
    value = jax.jit(converted)(*arrays)
    grads = jax.jit(jax.grad(loss, argnums=tuple(range(len(arrays)))))(*arrays)
    return (value, grads), (expected, expected_grads)


def _cholesky_factor(batch: tuple[int, ...], n: int, upper: bool) -> torch.Tensor:
    a = torch.randn(*batch, n, n)
    spd = a @ a.mT + n * torch.eye(n)
    return torch.linalg.cholesky(spd, upper=upper)


@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize(("factor_batch", "rhs_batch"), [((), ()), ((2,), ()), ((), (3,))])
def test_cholesky_solve_gradient_covers_the_whole_factor(upper, factor_batch, rhs_batch):
    torch.manual_seed(0)
    factor = _cholesky_factor(factor_batch, 4, upper)
    rhs = torch.randn(*rhs_batch, 4, 3)
    (value, grads), (expected, expected_grads) = _value_and_gradients(
        lambda b, f: torch.cholesky_solve(b, f, upper=upper), rhs, factor
    )
    _close(value, expected)
    for g, e in zip(grads, expected_grads, strict=True):
        _close(g, e, atol=1e-4, rtol=1e-4)
    # PyTorch's factor gradient is not triangular: the other triangle has one too.
    other = torch.tril(expected_grads[1], -1) if upper else torch.triu(expected_grads[1], 1)
    assert other.abs().max() > 0


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_inverse_gradient_covers_the_whole_factor(upper):
    torch.manual_seed(1)
    factor = _cholesky_factor((2,), 5, upper)
    (value, grads), (expected, expected_grads) = _value_and_gradients(
        lambda f: torch.cholesky_inverse(f, upper=upper), factor
    )
    _close(value, expected)
    _close(grads[0], expected_grads[0], atol=1e-4, rtol=1e-4)


def test_cholesky_solve_reads_only_the_factors_triangle():
    torch.manual_seed(2)
    factor = _cholesky_factor((), 4, upper=False) + torch.triu(torch.randn(4, 4), 1)
    rhs = torch.randn(4, 2)
    (value, grads), (expected, expected_grads) = _value_and_gradients(
        torch.cholesky_solve, rhs, factor
    )
    _close(value, expected)
    for g, e in zip(grads, expected_grads, strict=True):
        _close(g, e, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("shape", [(0, 0), (2, 0, 0), (0, 3, 3)])
def test_eig_of_empty_matrices_and_its_gradient(shape):
    a = torch.zeros(shape)

    def eig(x):
        w, v = torch.linalg.eig(x)
        return w.real.sum() + w.imag.sum() + torch.linalg.eigvals(x).real.sum()

    w, v = t2j(torch.linalg.eig)(t2j(a))
    expected_w, expected_v = torch.linalg.eig(a)
    assert w.shape == tuple(expected_w.shape) and w.dtype == jnp.complex64
    assert v.shape == tuple(expected_v.shape) and v.dtype == jnp.complex64
    grad = jax.jit(jax.grad(t2j(eig)))(t2j(a))
    assert grad.shape == shape


_ORDS = [0.5, 1, 2, 3.5, float("inf"), -0.5, -1, -2, float("-inf"), 0]


@pytest.mark.parametrize("ord", _ORDS)
def test_vector_norm_subgradient_at_zero_is_pytorchs(ord):
    x = torch.zeros(2, 5)
    x[1] = torch.tensor(
        [0.0, 1.5, -2.0, 0.0, 2.0]
    )  # a zero row, and zero elements in a nonzero one
    (value, grads), (expected, expected_grads) = _value_and_gradients(
        lambda x: torch.linalg.vector_norm(x, ord, dim=-1), x
    )
    _close(value, expected)
    _close(grads[0], expected_grads[0])
    assert not np.isnan(np.array(grads[0])).any()


@pytest.mark.parametrize("ord", [None, "fro", "nuc", 1, -1, 2, -2, float("inf"), float("-inf")])
def test_matrix_norm_gradient_at_zero_is_pytorchs(ord):
    x = torch.zeros(3, 3)
    (value, grads), (expected, expected_grads) = _value_and_gradients(
        lambda x: torch.linalg.norm(x, ord), x
    )
    _close(value, expected)
    _close(grads[0], expected_grads[0])


@pytest.mark.parametrize("ord", [1, 2, 3.5, float("inf"), 0.5])
@pytest.mark.parametrize("keepdim", [False, True])
def test_vector_norm_gradient_off_zero_and_its_dims(ord, keepdim):
    torch.manual_seed(3)
    x = torch.randn(3, 4, 2)
    (value, grads), (expected, expected_grads) = _value_and_gradients(
        lambda x: torch.linalg.vector_norm(x, ord, dim=(0, 2), keepdim=keepdim), x
    )
    _close(value, expected)
    _close(grads[0], expected_grads[0], atol=1e-5, rtol=1e-4)


def test_vector_norm_of_complex_input_gradient():
    torch.manual_seed(4)
    x = torch.randn(6, dtype=torch.complex64)
    x[2] = 0

    def fn(x):
        return torch.linalg.vector_norm(x, 3.0)

    xt = x.clone().requires_grad_()
    fn(xt).backward()
    grad = jax.grad(t2j(fn))(t2j(x))
    # JAX's gradient of a real function of a complex input is the conjugate of PyTorch's.
    _close(jnp.conj(grad), xt.grad)
