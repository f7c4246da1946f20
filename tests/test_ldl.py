"""torch.linalg.ldl_factor(_ex) and ldl_solve against PyTorch: LAPACK's exact pivots and factors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from torch2jax import t2j

# float64 and complex128 samples need 64-bit JAX.
pytestmark = pytest.mark.usefixtures("x64_on")


def _symmetric_indefinite(
    n: int, dtype: torch.dtype, small_diagonal: bool, hermitian: bool = False
) -> torch.Tensor:
    generator = torch.Generator().manual_seed(n)
    m = torch.randn(3, n, n, generator=generator, dtype=dtype)
    m = m + (m.mH if hermitian else m.mT)
    if small_diagonal:  # forces 2x2 pivots and interchanges
        m.diagonal(dim1=-2, dim2=-1).mul_(0.01)
    return m


@pytest.mark.parametrize(
    ("n", "dtype", "small_diagonal", "hermitian"),
    [
        (1, torch.float64, False, False),
        (6, torch.float64, False, False),
        (9, torch.float64, True, False),
        (7, torch.float32, True, False),
        (6, torch.complex128, True, False),
        (7, torch.complex128, True, True),
    ],
)
def test_ldl_factor_and_solve_match_lapack(n, dtype, small_diagonal, hermitian):
    tolerance = 1e-4 if dtype == torch.float32 else 1e-9
    m = _symmetric_indefinite(n, dtype, small_diagonal, hermitian)
    b = torch.randn(3, n, 2, generator=torch.Generator().manual_seed(1), dtype=dtype)
    ld, pivots, info = torch.linalg.ldl_factor_ex(m, hermitian=hermitian)
    x = torch.linalg.ldl_solve(ld, pivots, b, hermitian=hermitian)

    factor = jax.jit(t2j(lambda a: torch.linalg.ldl_factor_ex(a, hermitian=hermitian)))
    solve = jax.jit(t2j(lambda f, p, y: torch.linalg.ldl_solve(f, p, y, hermitian=hermitian)))
    ld_j, pivots_j, info_j = factor(jnp.asarray(m.numpy()))
    x_j = solve(jnp.asarray(ld.numpy()), jnp.asarray(pivots.numpy()), jnp.asarray(b.numpy()))

    np.testing.assert_array_equal(np.asarray(pivots_j), pivots.numpy())
    np.testing.assert_array_equal(np.asarray(info_j), info.numpy())
    np.testing.assert_allclose(np.asarray(ld_j), ld.numpy(), rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(np.asarray(x_j), x.numpy(), rtol=tolerance, atol=tolerance)


def test_singular_matrix_reports_the_zero_pivot():
    m = torch.zeros(4, 4, dtype=torch.float64)
    m[0, 0] = 1.0
    ld, pivots, info = torch.linalg.ldl_factor_ex(m)
    ld_j, pivots_j, info_j = t2j(torch.linalg.ldl_factor_ex)(jnp.asarray(m.numpy()))
    np.testing.assert_array_equal(np.asarray(pivots_j), pivots.numpy())
    assert int(info_j) == int(info) == 2
    np.testing.assert_array_equal(np.asarray(ld_j), ld.numpy())
