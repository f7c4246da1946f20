"""Matrix factorizations, solvers, inverses and determinants (``torch.linalg``'s ATen primitives).

PyTorch's ``*_ex`` variants return an ``info`` tensor (0 where the factorization succeeded); JAX
reports failure through NaNs instead, so ``info`` is zeros. LU pivots are LAPACK's row swaps,
1-based in PyTorch and 0-based in JAX.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

from torch2jax.eager_ops import is_traced
from torch2jax.ops._common import aten, precision
from torch2jax.registry import implements


def _info(a: Any) -> Any:
    return jnp.zeros(a.shape[:-2], jnp.int32)


def _mT(a: Any) -> Any:
    return jnp.swapaxes(a, -1, -2)


def _mH(a: Any) -> Any:
    return jnp.conj(_mT(a))


def _matmul(a: Any, b: Any) -> Any:
    return jnp.matmul(a, b, precision=precision())


# --------------------------------------------------------------------------------------------------
# Decompositions


@jax.custom_jvp
def _svd_full(a: Any) -> tuple[Any, Any, Any]:
    u, s, vh = jnp.linalg.svd(a, full_matrices=True)
    return u, s, vh


@_svd_full.defjvp
def _svd_full_jvp(primals: tuple[Any], tangents: tuple[Any]) -> tuple[Any, Any]:
    """JAX differentiates the reduced SVD only. PyTorch's backward ignores the columns past
    min(m, n) (they complete an arbitrary basis): the reduced factors carry the derivative, the
    completing columns (orthogonal to them) come from the full SVD and have zero tangents."""
    (a,), (da,) = primals, tangents
    k = min(a.shape[-2], a.shape[-1])
    (u, s, vh), (du, ds, dvh) = jax.jvp(
        lambda x: jnp.linalg.svd(x, full_matrices=False), (a,), (da,)
    )
    u_full, _, vh_full = jnp.linalg.svd(a, full_matrices=True)
    u_rest, vh_rest = u_full[..., :, k:], vh_full[..., k:, :]
    u = jnp.concatenate([u, u_rest], axis=-1)
    vh = jnp.concatenate([vh, vh_rest], axis=-2)
    du = jnp.concatenate([du, jnp.zeros_like(u_rest)], axis=-1)
    dvh = jnp.concatenate([dvh, jnp.zeros_like(vh_rest)], axis=-2)
    return (u, s, vh), (du, ds, dvh)


@implements(aten._linalg_svd)
def linalg_svd(
    a: Any, full_matrices: bool = False, compute_uv: bool = True, *, driver: str | None = None
) -> Any:
    if not compute_uv:
        s = jnp.linalg.svd(a, compute_uv=False)
        empty = jnp.zeros((0,), a.dtype)
        return empty, s, empty
    if full_matrices and a.shape[-2] != a.shape[-1]:
        return _svd_full(a)
    u, s, vh = jnp.linalg.svd(a, full_matrices=False)
    return u, s, vh


@implements(aten._linalg_eigh)
def linalg_eigh(a: Any, UPLO: str = "L", compute_v: bool = True) -> Any:
    w, v = jnp.linalg.eigh(a, UPLO=UPLO, symmetrize_input=False)
    return w, (v if compute_v else jnp.zeros((0,), a.dtype))


@implements(aten.linalg_eig)
def linalg_eig(a: Any) -> Any:
    if a.shape[-1] == 0:  # JAX's derivative rule takes an argmax over the empty matrix
        dtype = jnp.promote_types(a.dtype, jnp.complex64)
        return jnp.zeros(a.shape[:-1], dtype), jnp.zeros(a.shape, dtype)
    # Eigenvector derivatives assume distinct eigenvalues, as PyTorch's backward does.
    w, v = jax.lax.linalg.eig(a, compute_left_eigenvectors=False, enable_eigvec_derivs=True)
    return w, v


@implements(aten._linalg_check_errors)
def linalg_check_errors(info: Any, api_name: str, *, is_matrix: bool) -> None:
    """No-op: JAX factorizations signal failure with NaNs, and ``info`` is always zero here."""
    return None


@implements(aten.linalg_cholesky_ex)
def linalg_cholesky_ex(a: Any, *, upper: bool = False, check_errors: bool = False) -> Any:
    lower = jnp.linalg.cholesky(a)
    return (_mH(lower) if upper else lower), _info(a)


@implements(aten.linalg_qr)
def linalg_qr(a: Any, mode: str = "reduced") -> Any:
    if mode == "r":
        return jnp.zeros((0,), a.dtype), jnp.linalg.qr(a, mode="r")
    q, r = jnp.linalg.qr(a, mode=mode)
    return q, r


def _lu(a: Any) -> tuple[Any, Any, Any]:
    lu, pivots, permutation = jax.lax.linalg.lu(a)
    return lu, pivots, permutation


@implements(aten.linalg_lu_factor_ex)
def linalg_lu_factor_ex(a: Any, *, pivot: bool = True, check_errors: bool = False) -> Any:
    lu, pivots, _ = _lu(a)
    return lu, pivots + 1, _info(a)


def _unpack_lu(lu: Any, permutation: Any, m: int, n: int) -> tuple[Any, Any, Any]:
    k = min(m, n)
    lower = jnp.tril(lu[..., :, :k], -1) + jnp.eye(m, k, dtype=lu.dtype)
    upper = jnp.triu(lu[..., :k, :])
    # P @ L @ U = A: P's columns are the identity's in the permutation's order.
    p = jnp.swapaxes(jax.nn.one_hot(permutation, m, dtype=lu.dtype), -1, -2)
    return p, lower, upper


@implements(aten.linalg_lu)
def linalg_lu(a: Any, *, pivot: bool = True) -> Any:
    lu, _, permutation = _lu(a)
    return _unpack_lu(lu, permutation, a.shape[-2], a.shape[-1])


def _permutation_from_pivots(pivots: Any, m: int) -> Any:
    """The row permutation that LAPACK's 0-based swaps ``pivots`` apply, batched."""
    batch = pivots.shape[:-1]
    perm = jnp.broadcast_to(jnp.arange(m, dtype=pivots.dtype), (*batch, m))

    def swap(i: int, perm: Any) -> Any:
        j = pivots[..., i]
        pi = perm[..., i]
        pj = jnp.take_along_axis(perm, j[..., None], -1)[..., 0]
        perm = perm.at[..., i].set(pj)
        return jnp.where(jnp.arange(m) == j[..., None], pi[..., None], perm)

    return jax.lax.fori_loop(0, pivots.shape[-1], swap, perm)


@implements(aten.lu_unpack)
def lu_unpack(lu: Any, pivots: Any, unpack_data: bool = True, unpack_pivots: bool = True) -> Any:
    m, n = lu.shape[-2], lu.shape[-1]
    permutation = _permutation_from_pivots(pivots.astype(jnp.int32) - 1, m)
    return _unpack_lu(lu, permutation, m, n)


def _lu_solve(lu: Any, permutation: Any, b: Any, adjoint: bool) -> Any:
    if not adjoint:
        pb = jnp.take_along_axis(b, permutation[..., :, None], axis=-2)
        y = jsl.solve_triangular(lu, pb, lower=True, unit_diagonal=True)
        return jsl.solve_triangular(lu, y, lower=False)
    y = jsl.solve_triangular(lu, b, lower=False, trans="C")
    x = jsl.solve_triangular(lu, y, lower=True, unit_diagonal=True, trans="C")
    inverse = jnp.argsort(permutation, axis=-1)
    return jnp.take_along_axis(x, inverse[..., :, None], axis=-2)


@implements(aten.linalg_lu_solve)
def linalg_lu_solve(
    lu: Any, pivots: Any, b: Any, *, left: bool = True, adjoint: bool = False
) -> Any:
    lu, b = jnp.broadcast_arrays(lu, b) if lu.shape[:-2] != b.shape[:-2] else (lu, b)
    permutation = _permutation_from_pivots(pivots.astype(jnp.int32) - 1, lu.shape[-1])
    permutation = jnp.broadcast_to(permutation, lu.shape[:-1])
    if left:
        return _lu_solve(lu, permutation, b, adjoint)
    # X A = B  <=>  A^H X^H = B^H
    return _mH(_lu_solve(lu, permutation, _mH(b), not adjoint))


# --------------------------------------------------------------------------------------------------
# Solvers, inverses, determinants


def _broadcast_batch(a: Any, b: Any) -> tuple[Any, Any]:
    batch = jnp.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return jnp.broadcast_to(a, (*batch, *a.shape[-2:])), jnp.broadcast_to(
        b, (*batch, *b.shape[-2:])
    )


@implements(aten._linalg_solve_ex)
def linalg_solve_ex(a: Any, b: Any, *, left: bool = True, check_errors: bool = False) -> Any:
    lu, pivots, permutation = _lu(a)
    vector = b.ndim == 1 or (b.ndim == a.ndim - 1 and b.shape == a.shape[:-1])
    rhs = b[..., None] if vector else b
    if left:
        lu_b, rhs = _broadcast_batch(lu, rhs)
        perm_b = jnp.broadcast_to(permutation, lu_b.shape[:-1])
        x = _lu_solve(lu_b, perm_b, rhs, adjoint=False)
    else:
        lu_b, rhs_h = _broadcast_batch(lu, _mH(rhs))
        perm_b = jnp.broadcast_to(permutation, lu_b.shape[:-1])
        x = _mH(_lu_solve(lu_b, perm_b, rhs_h, adjoint=True))
    if vector:
        x = x[..., 0]
    return x, lu, pivots + 1, _info(a)


@implements(aten.linalg_inv_ex)
def linalg_inv_ex(a: Any, *, check_errors: bool = False) -> Any:
    return jnp.linalg.inv(a), _info(a)


@implements(aten._linalg_det)
def linalg_det(a: Any) -> Any:
    lu, pivots, _ = _lu(a)
    if a.shape[-1] == 0:  # the empty product (JAX's derivative rule indexes the empty matrix)
        return jnp.ones(a.shape[:-2], a.dtype), lu, pivots + 1
    return jnp.linalg.det(a), lu, pivots + 1


@implements(aten._linalg_slogdet)
def linalg_slogdet(a: Any) -> Any:
    lu, pivots, _ = _lu(a)
    if a.shape[-1] == 0:
        sign = jnp.ones(a.shape[:-2], a.dtype)
        return sign, jnp.zeros(a.shape[:-2], jnp.real(sign).dtype), lu, pivots + 1
    sign, logabsdet = jnp.linalg.slogdet(a)
    return sign, logabsdet, lu, pivots + 1


@implements(aten.linalg_solve_triangular)
def linalg_solve_triangular(
    a: Any, b: Any, *, upper: bool, left: bool = True, unitriangular: bool = False
) -> Any:
    a, b = _broadcast_batch(a, b)
    if left:
        return jsl.solve_triangular(a, b, lower=not upper, unit_diagonal=unitriangular)
    # X A = B  <=>  A^T X^T = B^T
    return _mT(
        jsl.solve_triangular(a, _mT(b), lower=not upper, unit_diagonal=unitriangular, trans="T")
    )


@implements(aten.triangular_solve)
def triangular_solve(
    b: Any, a: Any, upper: bool = True, transpose: bool = False, unitriangular: bool = False
) -> Any:
    a_b, b_b = _broadcast_batch(a, b)
    x = jsl.solve_triangular(
        a_b, b_b, lower=not upper, unit_diagonal=unitriangular, trans="T" if transpose else 0
    )
    return x, a_b


def _cholesky_solve_value(b: Any, factor: Any, upper: bool) -> Any:
    """``(L L^H)^-1 b`` (``(U^H U)^-1 b`` where ``upper``), only the factor's triangle read."""
    lower = _mH(factor) if upper else factor
    y = jsl.solve_triangular(lower, b, lower=True)
    return jsl.solve_triangular(lower, y, lower=True, trans="C")


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def _cholesky_solve(b: Any, factor: Any, upper: bool) -> Any:
    return _cholesky_solve_value(b, factor, upper)


@_cholesky_solve.defjvp
def _cholesky_solve_jvp(upper: bool, primals: tuple, tangents: tuple) -> tuple[Any, Any]:
    """PyTorch's derivative: that of ``A^-1 b`` with ``A = L L^H`` (``U^H U``) formed from the
    whole factor argument, not only the triangle the value reads, so a triangular factor's
    gradient is not triangular: dX = A^-1 (db - dA X), dA = dL L^H + L dL^H."""
    (b, factor), (db, dfactor) = primals, tangents
    x = _cholesky_solve_value(b, factor, upper)
    if upper:
        d_gram = _matmul(_mH(dfactor), factor) + _matmul(_mH(factor), dfactor)
    else:
        d_gram = _matmul(dfactor, _mH(factor)) + _matmul(factor, _mH(dfactor))
    return x, _cholesky_solve_value(db - _matmul(d_gram, x), factor, upper)


@implements(aten.cholesky_solve)
def cholesky_solve(b: Any, factor: Any, upper: bool = False) -> Any:
    factor, b = _broadcast_batch(factor, b)
    return _cholesky_solve(b, factor, upper)


@implements(aten.cholesky_inverse)
def cholesky_inverse(factor: Any, upper: bool = False) -> Any:
    identity = jnp.broadcast_to(jnp.eye(factor.shape[-1], dtype=factor.dtype), factor.shape)
    return _cholesky_solve(identity, factor, upper)


def _pinv_value(a: Any, atol: Any, rtol: Any, hermitian: bool) -> Any:
    if hermitian:
        s, u = jnp.linalg.eigh(a, UPLO="L", symmetrize_input=False)
        vh = _mH(u)
        magnitude = jnp.abs(s)
    else:
        u, s, vh = jnp.linalg.svd(a, full_matrices=False)
        magnitude = s
    largest = jnp.max(magnitude, axis=-1, keepdims=True, initial=0.0)
    atol = jnp.zeros(()) if atol is None else jnp.asarray(atol)
    if rtol is None:
        eps = jnp.finfo(a.dtype).eps
        rtol = jnp.where(atol > 0, 0.0, eps * max(a.shape[-2], a.shape[-1]))
    cutoff = jnp.maximum(jnp.asarray(atol)[..., None], jnp.asarray(rtol)[..., None] * largest)
    inverse_s = jnp.where(magnitude > cutoff, 1 / jnp.where(magnitude > cutoff, s, 1), 0.0)
    return _matmul(_mH(vh) * inverse_s[..., None, :].astype(a.dtype), _mH(u))


@functools.partial(jax.custom_jvp, nondiff_argnums=(3,))
def _pinv(a: Any, atol: Any, rtol: Any, hermitian: bool) -> Any:
    return _pinv_value(a, atol, rtol, hermitian)


@_pinv.defjvp
def _pinv_jvp(hermitian: bool, primals: tuple, tangents: tuple) -> tuple[Any, Any]:
    """The pseudo-inverse's derivative from the pseudo-inverse itself (PyTorch's rule, for
    ``hermitian=True`` too: the gradient is that of pinv as a function of any matrix), which
    never divides by gaps between singular values or eigenvalues."""
    a, atol, rtol = primals
    da = tangents[0]
    p = _pinv_value(a, atol, rtol, hermitian)
    m, n = a.shape[-2:]
    dp = -_matmul(p, _matmul(da, p))
    dp = dp + _matmul(
        _matmul(p, _mH(p)), _matmul(_mH(da), jnp.eye(m, dtype=a.dtype) - _matmul(a, p))
    )
    dp = dp + _matmul(
        jnp.eye(n, dtype=a.dtype) - _matmul(p, a), _matmul(_mH(da), _matmul(_mH(p), p))
    )
    return p, dp


@implements(aten.linalg_pinv.atol_rtol_tensor, aten.linalg_pinv.atol_rtol_float)
def linalg_pinv(a: Any, *, atol: Any = None, rtol: Any = None, hermitian: bool = False) -> Any:
    return _pinv(a, atol, rtol, hermitian)


# --------------------------------------------------------------------------------------------------
# Least squares


def _index_dtype() -> Any:
    """PyTorch's int64, or int32 where x64 is off (as JAX itself does), at call time."""
    return jax.dtypes.canonicalize_dtype(jnp.int64)


def _lstsq_pinv(a: Any, b: Any, rcond: float | None) -> tuple[Any, Any, Any]:
    """The minimum-norm solution through the pseudo-inverse, singular values at most
    ``rcond * s_max`` dropped: solution, rank, singular values.

    ``jnp.linalg.pinv`` has its own derivative rule (the one PyTorch's lstsq backward uses);
    differentiating through the SVD would divide by gaps between singular values instead, which
    loses every digit on a nearly orthogonal ``a``."""
    m, n = a.shape[-2:]
    if rcond is None or rcond < 0:  # LAPACK treats a negative rcond as machine precision too
        rcond = float(jnp.finfo(a.dtype).eps) * max(m, n)
    s = jax.lax.stop_gradient(jnp.linalg.svd(a, compute_uv=False))
    largest = s[..., :1] if min(m, n) > 0 else jnp.zeros((*s.shape[:-1], 1), s.dtype)
    rank = jnp.sum(s > rcond * largest, axis=-1).astype(_index_dtype())
    pseudo_inverse = jnp.linalg.pinv(a, rtol=rcond) if min(m, n) > 0 else _mH(a)
    return _matmul(pseudo_inverse, b), rank, s


def _all_full_rank(rank: Any, n: int) -> bool:
    """Whether PyTorch reports residuals: eagerly from the ranks; under a transformation the
    ranks have no value, and full rank is assumed (PyTorch returns an empty tensor otherwise)."""
    if is_traced(rank):
        return True
    return bool(jnp.all(rank == n))


@implements(aten.linalg_lstsq)
def linalg_lstsq(a: Any, b: Any, rcond: float | None = None, *, driver: str | None = None) -> Any:
    """``(solution, residuals, rank, singular_values)`` shaped as PyTorch's CPU drivers return
    them: rank for gelsy/gelsd/gelss, singular values for gelsd/gelss, residuals (squared
    column norms of A X - B) where m > n, the driver is not gelsy, and every matrix has full
    rank. Every driver returns the minimum-norm solution through the pseudo-inverse (gels
    assumes full rank, where it is the same solution) and the rank from the singular values
    (gelsy decides rank by its pivoted QR's condition estimate, which can differ on
    borderline-rank matrices). Under a transformation the ranks have no value, and residuals
    are returned as if every matrix had full rank."""
    driver = driver or "gelsy"
    vector = b.ndim == a.ndim - 1
    rhs = b[..., None] if vector else b
    a, rhs = _broadcast_batch(a, rhs)
    m, n = a.shape[-2:]
    empty = jnp.zeros((0,), a.dtype)
    solution, rank, s = _lstsq_pinv(a, rhs, rcond)
    if driver == "gels":
        rank, singular_values, full_rank = jnp.zeros((0,), _index_dtype()), empty, True
    else:
        singular_values = s.astype(a.dtype) if driver in ("gelsd", "gelss") else empty
        full_rank = driver != "gelsy" and m > n and _all_full_rank(rank, n)
    if m > n and full_rank:
        residuals = jnp.sum(jnp.abs(_matmul(a, solution) - rhs) ** 2, axis=-2)
    else:
        residuals = jnp.zeros((0,), jnp.real(empty).dtype)
    return (solution[..., 0] if vector else solution), residuals, rank, singular_values
