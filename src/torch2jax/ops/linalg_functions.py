"""Matrix functions with derivative rules of their own: the square root of a Hermitian
positive-definite matrix and the polar decomposition.

Both are computed from a spectral factorization, but their derivatives are written in closed form
(Sylvester equations solved in the eigen/singular basis), as PyTorch's are: differentiating
through ``eigh``/``svd`` would divide by gaps between eigen/singular values, which loses every
digit on matrices with close ones, while these rules divide by sums of (positive) ones.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from torch2jax.ops._common import aten, precision
from torch2jax.registry import implements


def _mH(a: Any) -> Any:
    return jnp.conj(jnp.swapaxes(a, -1, -2))


def _matmul(*operands: Any) -> Any:
    out = operands[0]
    for operand in operands[1:]:
        out = jnp.matmul(out, operand, precision=precision())
    return out


def _sqrth_factors(a: Any) -> tuple[Any, Any]:
    """Eigenvectors and the square roots of the eigenvalues (the lower triangle of ``a`` used)."""
    w, v = jnp.linalg.eigh(a, UPLO="L", symmetrize_input=False)
    return v, jnp.sqrt(w)


@jax.custom_jvp
def matrix_sqrth(a: Any) -> Any:
    v, roots = _sqrth_factors(a)
    return _matmul(v * roots[..., None, :].astype(v.dtype), _mH(v))


@matrix_sqrth.defjvp
def _matrix_sqrth_jvp(primals: tuple[Any], tangents: tuple[Any]) -> tuple[Any, Any]:
    # X X = A  =>  X dX + dX X = dA: in X's eigenbasis, dX_ij = dA_ij / (sqrt(w_i) + sqrt(w_j)).
    (a,), (da,) = primals, tangents
    v, roots = _sqrth_factors(a)
    x = _matmul(v * roots[..., None, :].astype(v.dtype), _mH(v))
    denominator = (roots[..., :, None] + roots[..., None, :]).astype(v.dtype)
    dx = _matmul(v, _matmul(_mH(v), da, v) / denominator, _mH(v))
    return x, dx


@implements(aten.linalg_matrix_sqrth)
def linalg_matrix_sqrth(a: Any) -> Any:
    return matrix_sqrth(a)


def _polar_factors(a: Any) -> tuple[Any, Any, Any, Any, Any]:
    w, s, vh = jnp.linalg.svd(a, full_matrices=False)
    v = _mH(vh)
    u = _matmul(w, vh)
    h = _matmul(v * s[..., None, :].astype(a.dtype), vh)
    return u, h, w, s, v


@jax.custom_jvp
def polar(a: Any) -> tuple[Any, Any]:
    u, h, *_ = _polar_factors(a)
    return u, h


@polar.defjvp
def _polar_jvp(primals: tuple[Any], tangents: tuple[Any]) -> tuple[Any, Any]:
    # A = U H = W S V^H. In the singular bases, K = W^H dA V = Omega S + Y with Omega = V^H U^H
    # dU V skew-Hermitian and Y = V^H dH V Hermitian, so Omega_ij = (K - K^H)_ij / (s_i + s_j).
    # A tall A's U also moves off its range: (I - W W^H) dU = (I - W W^H) dA V S^-1 V^H.
    (a,), (da,) = primals, tangents
    u, h, w, s, v = _polar_factors(a)
    s = s.astype(a.dtype)
    k = _matmul(_mH(w), da, v)
    omega = (k - _mH(k)) / (s[..., :, None] + s[..., None, :])
    y = k - omega * s[..., None, :]
    du = _matmul(w, omega, _mH(v))
    if a.shape[-2] > a.shape[-1]:
        off_range = da - _matmul(w, _matmul(_mH(w), da))
        du = du + _matmul(off_range, v / s[..., None, :], _mH(v))
    dh = _matmul(v, y, _mH(v))
    return (u, h), (du, dh)


@implements(aten.linalg_polar)
def linalg_polar(a: Any) -> Any:
    return polar(a)
