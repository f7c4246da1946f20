"""Linear-algebra behaviour that the OpInfo samples do not reach: lstsq's per-driver outputs on
rank-deficient and batched inputs, the QR-family round trip, derivatives at close eigenvalues."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import torch

from torch2jax import t2j


def _close(actual, expected, **tolerances):
    torch.testing.assert_close(torch.from_numpy(np.array(actual)), expected, **tolerances)


@pytest.mark.parametrize("driver", ["gels", "gelsy", "gelsd", "gelss"])
@pytest.mark.parametrize("shape", [(4, 3), (3, 3), (2, 3), (2, 5, 3)])
def test_lstsq_outputs_match_pytorch_per_driver(driver, shape):
    torch.manual_seed(0)
    a, b = torch.randn(shape), torch.randn(*shape[:-1], 2)
    expected = torch.linalg.lstsq(a, b, driver=driver)
    actual = jax.jit(t2j(lambda a, b: tuple(torch.linalg.lstsq(a, b, driver=driver))))(
        t2j(a), t2j(b)
    )
    for x, e in zip(actual, expected, strict=True):
        assert tuple(x.shape) == tuple(e.shape)
        _close(x, e, check_dtype=False, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("driver", ["gelsy", "gelsd", "gelss"])
def test_lstsq_rank_deficient_gives_minimum_norm_solution_and_rank(driver):
    torch.manual_seed(0)
    a, b = torch.randn(5, 3), torch.randn(5, 2)
    a[:, 1] = 2 * a[:, 0]
    expected = torch.linalg.lstsq(a, b, driver=driver)
    actual = t2j(lambda a, b: tuple(torch.linalg.lstsq(a, b, driver=driver)))(t2j(a), t2j(b))
    _close(actual[0], expected.solution, atol=1e-5, rtol=1e-5)
    assert int(actual[2]) == int(expected.rank) == 2
    # Eagerly, like PyTorch, no residuals for a rank-deficient matrix.
    assert actual[1].shape == expected.residuals.shape == (0,)


def test_ormqr_and_householder_product_reproduce_qr():
    torch.manual_seed(0)
    a, c = torch.randn(6, 4), torch.randn(6, 3)

    def fn(a, c):
        reflectors, tau = torch.geqrf(a)
        q = torch.linalg.householder_product(reflectors, tau)
        return q, torch.ormqr(reflectors, tau, c, left=True, transpose=True)

    q, qt_c = jax.jit(t2j(fn))(t2j(a), t2j(c))
    expected_q = torch.linalg.qr(a).Q
    _close(q, expected_q, atol=1e-5, rtol=1e-5)
    full_q = torch.linalg.qr(a, mode="complete").Q
    _close(qt_c, full_q.mT @ c, atol=1e-5, rtol=1e-5)


def test_matrix_sqrth_gradient_at_repeated_eigenvalues():
    # The identity has one eigenvalue n times: eigh's derivative divides by zero gaps there,
    # the Sylvester-equation rule does not.
    a = torch.eye(4, requires_grad=True)
    torch.linalg.matrix_sqrth(a).sum().backward()
    grad = jax.grad(lambda x: t2j(torch.linalg.matrix_sqrth)(x).sum())(t2j(a.detach()))
    assert np.all(np.isfinite(np.asarray(grad)))
    _close(grad, a.grad, atol=1e-6, rtol=1e-6)


def test_polar_gradient_matches_pytorch_for_a_tall_matrix():
    torch.manual_seed(0)
    a = torch.randn(5, 3, requires_grad=True)
    u, h = torch.linalg.polar(a)
    (u.sum() + (h * h).sum()).backward()

    def loss(x):
        u, h = t2j(torch.linalg.polar)(x)
        return u.sum() + (h * h).sum()

    _close(jax.grad(loss)(t2j(a.detach())), a.grad, atol=1e-5, rtol=1e-5)


def test_cov_with_weights_under_jit():
    torch.manual_seed(0)
    x, fw, aw = torch.randn(3, 5), torch.tensor([1, 2, 0, 3, 1]), torch.rand(5)
    expected = torch.cov(x, correction=1, fweights=fw, aweights=aw)
    actual = jax.jit(t2j(lambda x, f, a: torch.cov(x, fweights=f, aweights=a)))(
        t2j(x), t2j(fw), t2j(aw)
    )
    _close(actual, expected, atol=1e-5, rtol=1e-5)
