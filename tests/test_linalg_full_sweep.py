"""Linear-algebra failures of the full OpInfo sweep, as focused regressions against PyTorch:
the Cholesky solvers' gradients (PyTorch differentiates the whole factor argument), eig on empty
matrices, the vector norms' subgradients at zero, and the matrix exponential (PyTorch's Taylor
scheme, whose round-off differs from JAX's Padé expm by more than float32 tolerances), and addbmm
(the order in which PyTorch's small-matrix kernels add products)."""

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


# --------------------------------------------------------------------------------------------------
# matrix_exp: the degree PyTorch picks from each matrix's 1-norm, scaling and squaring above the
# largest bound, degree 18 for every matrix of a batch, and the block-matrix gradient.

# 1-norms that select each degree (1, 2, 4, 8, 12, 18 unscaled, 18 with 2^5 scaling) per dtype.
_MATRIX_EXP_NORMS = {
    torch.float32: [1e-7, 3e-4, 0.03, 0.4, 1.2, 2.5, 80.0],
    torch.float64: [1e-16, 1e-8, 2e-4, 0.03, 0.2, 0.8, 80.0],
}


def _matrices_with_norms(n: int, norms: list[float], dtype: torch.dtype, seed: int) -> torch.Tensor:
    """Random n x n matrices (one per norm, stacked) scaled to the given 1-norms."""
    a = torch.randn(len(norms), n, n, dtype=dtype, generator=torch.Generator().manual_seed(seed))
    scale = torch.tensor(norms, dtype=dtype) / torch.linalg.matrix_norm(a, 1)
    return a * scale[:, None, None]


def _matrix_exp_gradient_check(a: torch.Tensor, atol: float, rtol: float) -> None:
    weights = torch.randn(a.shape, dtype=a.dtype, generator=torch.Generator().manual_seed(7))
    (value, grads), (expected, expected_grads) = _value_and_gradients(
        lambda x: torch.linalg.matrix_exp(x) * weights, a
    )
    _close(value, expected, atol=atol, rtol=rtol)
    _close(grads[0], expected_grads[0], atol=atol, rtol=rtol)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_matrix_exp_of_each_degree_is_pytorchs(dtype, x64_on):
    """One matrix at a time, each norm picks its own degree; float32 values are PyTorch's bit for
    bit (same polynomial, constants, and order of every sum in these 4x4 products)."""
    converted = t2j(torch.linalg.matrix_exp)
    jitted_fn = jax.jit(converted)
    for a in _matrices_with_norms(4, _MATRIX_EXP_NORMS[dtype], dtype, seed=10):
        expected = torch.linalg.matrix_exp(a)
        eager = np.asarray(converted(t2j(a)))
        jitted = np.asarray(jitted_fn(t2j(a)))
        if dtype == torch.float32:
            np.testing.assert_array_equal(eager, expected.numpy())
            np.testing.assert_array_equal(jitted, expected.numpy())
        else:
            _close(eager, expected, atol=0, rtol=1e-14)
            _close(jitted, expected, atol=0, rtol=1e-14)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_matrix_exp_of_a_batch_mixing_norms_is_pytorchs(dtype, x64_on):
    """A batch takes degree 18 with each matrix's own scaling, small norms included."""
    a = _matrices_with_norms(5, _MATRIX_EXP_NORMS[dtype], dtype, seed=11)
    a = (
        a.reshape(7, 1, 5, 5).expand(7, 2, 5, 5)
        * torch.tensor([1.0, 0.5], dtype=dtype)[:, None, None]
    )
    expected = torch.linalg.matrix_exp(a)
    tol = {"atol": 1e-5, "rtol": 1.3e-6} if dtype == torch.float32 else {"atol": 0, "rtol": 1e-14}
    _close(t2j(torch.linalg.matrix_exp)(t2j(a)), expected, **tol)
    _close(jax.jit(t2j(torch.linalg.matrix_exp))(t2j(a)), expected, **tol)


@pytest.mark.parametrize("norm", [0.03, 1.2, 80.0])
def test_matrix_exp_gradient_is_pytorchs_block_formula(norm):
    """The gradient is PyTorch's: exp of [[A^T, G], [0, A^T]] by the same scheme (a 10x10 block
    here, whose own norm picks the degree)."""
    a = _matrices_with_norms(5, [norm], torch.float32, seed=12)[0]
    _matrix_exp_gradient_check(a, atol=1e-5, rtol=1.3e-6)


def test_matrix_exp_gradient_of_a_batch_and_in_float64(x64_on):
    a = _matrices_with_norms(5, [1e-3, 0.3, 2.5, 40.0], torch.float32, seed=13)
    _matrix_exp_gradient_check(a, atol=1e-5, rtol=1.3e-6)
    single = _matrices_with_norms(5, [6.0], torch.float64, seed=14)[0]
    _matrix_exp_gradient_check(single, atol=0, rtol=1e-13)
    _matrix_exp_gradient_check(a.double(), atol=0, rtol=1e-13)


def test_matrix_exp_second_order_and_small_sizes(x64_on):
    """Gradients of gradients go through the same rule; 1x1 is exp, 0x0 is empty."""
    a = _matrices_with_norms(3, [4.0], torch.float64, seed=15)[0].requires_grad_()
    (inner,) = torch.autograd.grad((torch.linalg.matrix_exp(a) ** 2).sum(), a, create_graph=True)
    (expected,) = torch.autograd.grad(inner.sum(), a)
    converted = t2j(torch.linalg.matrix_exp)

    def inner_sum(x):
        return jnp.sum(jax.grad(lambda y: jnp.sum(converted(y) ** 2))(x))

    _close(jax.jit(jax.grad(inner_sum))(t2j(a.detach())), expected, atol=0, rtol=1e-12)
    for shape in [(3, 1, 1), (0, 0), (2, 0, 0)]:
        x = torch.randn(shape)
        _close(converted(t2j(x)), torch.linalg.matrix_exp(x))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["float16", "bfloat16"])
def test_matrix_exp_of_half_precision_is_the_float32_scheme_rounded(dtype):
    """PyTorch's CPU kernel misreads its coefficients in these dtypes (its results are garbage):
    t2j gives the float32 result rounded to the dtype."""
    a = _matrices_with_norms(3, [0.5, 6.0], torch.float32, seed=16).to(dtype)
    expected = torch.linalg.matrix_exp(a.float()).to(dtype)
    actual = jax.jit(t2j(torch.linalg.matrix_exp))(t2j(a))
    assert actual.dtype == t2j(a).dtype
    _close(actual.astype(jnp.float32), expected.float(), atol=0, rtol=0)


# addbmm: PyTorch's CPU kernel adds one (alpha * a[:, k]) * b[k, :] at a time for small matrices.


@pytest.mark.parametrize(
    "beta, alpha, bias_shape",
    [(1, 1, (5, 10)), (0.6, 0.2, (5, 10)), (0.6, 0.2, (1,)), (0.5, 1.2, ()), (0, 1, (5, 10))],
)
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_addbmm_of_small_matrices_is_pytorchs_bit_for_bit(beta, alpha, bias_shape, jit):
    generator = torch.Generator().manual_seed(3)
    bias = torch.randn(bias_shape, generator=generator) * 9
    a = torch.randn(5, 5, 5, generator=generator) * 9
    b = torch.randn(5, 5, 10, generator=generator) * 9
    if beta == 0:
        bias[0] = float("nan")  # ignored when beta is 0

    def fn(bias, a, b):
        return torch.addbmm(bias, a, b, beta=beta, alpha=alpha)

    converted = t2j(fn)
    converted = jax.jit(converted) if jit else converted
    actual = np.asarray(converted(t2j(bias), t2j(a), t2j(b)))
    np.testing.assert_array_equal(actual, fn(bias, a, b).numpy())


@pytest.mark.parametrize("shape", [(3, 4, 5, 6), (2, 16, 20, 8), (0, 3, 4, 5)])
def test_addbmm_values_and_gradients(shape):
    batch, m, k, n = shape
    generator = torch.Generator().manual_seed(4)
    bias = torch.randn(m, n, generator=generator)
    a = torch.randn(batch, m, k, generator=generator)
    b = torch.randn(batch, k, n, generator=generator)
    (value, grads), (expected, expected_grads) = _value_and_gradients(
        lambda bias, a, b: torch.addbmm(bias, a, b, beta=0.5, alpha=2.0), bias, a, b
    )
    _close(value, expected)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        _close(grad, expected_grad)


def test_addbmm_of_integers_is_exact():
    a = torch.randint(-5, 5, (3, 2, 4))
    b = torch.randint(-5, 5, (3, 4, 2))
    bias = torch.randint(-5, 5, (2, 2))
    actual = t2j(torch.addbmm)(t2j(bias), t2j(a), t2j(b))
    np.testing.assert_array_equal(np.asarray(actual), torch.addbmm(bias, a, b).numpy())
