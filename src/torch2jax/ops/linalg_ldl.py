"""LDL^T factorization of symmetric matrices and its solver (``torch.linalg.ldl_*``).

PyTorch returns LAPACK ``sytrf``'s compact result: the lower triangle holds D's diagonal (and the
sub-diagonal entries of its 2x2 blocks) with the unit lower factor L below, and ``pivots`` are
1-based row interchanges, negative (and repeated) for the two rows of a 2x2 block. The factors
are not unique, so this follows LAPACK's unblocked ``sytf2`` step by step (Bunch-Kaufman diagonal
pivoting, lower triangle), making the same pivot choices; ``ldl_solve`` applies them as
``sytrs`` does. The interchanges only act on the trailing matrix, so L's earlier columns stay in
their original row order and the solver interleaves swaps with the eliminations.

Complex matrices use LAPACK's ``|re| + |im|`` magnitudes and are factored as complex symmetric
(``zsytrf``), or with ``hermitian=True`` as Hermitian (``zhetrf``: real diagonal, conjugated L^H).
Real matrices take the symmetric path either way, as in PyTorch.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp

from torch2jax.ops._common import aten
from torch2jax.registry import implements

# Bunch-Kaufman's growth bound: the 1x1 pivot test ``|a_kk| >= ALPHA * colmax``.
ALPHA = (1.0 + math.sqrt(17.0)) / 8.0


def _magnitude(x: Any) -> Any:
    """LAPACK's pivot magnitude: ``|x|`` for reals, ``|re| + |im|`` (CABS1) for complex."""
    if jnp.iscomplexobj(x):
        return jnp.abs(x.real) + jnp.abs(x.imag)
    return jnp.abs(x)


def _is_hermitian(dtype: Any, hermitian: bool) -> bool:
    """Whether LAPACK's Hermitian routines apply: for real matrices they are the symmetric ones."""
    return hermitian and jnp.issubdtype(dtype, jnp.complexfloating)


def _real_part(x: Any, hermitian: bool) -> Any:
    return x.real.astype(x.dtype) if hermitian else x


def _swap(x: Any, i: Any, j: Any) -> Any:
    """Rows ``i`` and ``j`` of ``x`` interchanged."""
    rows = jnp.arange(x.shape[0])
    order = jnp.where(rows == i, j, jnp.where(rows == j, i, rows))
    return x[order]


def _choose_pivot(a: Any, k: Any, hermitian: bool) -> tuple[Any, Any, Any]:
    """sytf2's pivot choice at column ``k``: (kp, kstep, singular) with kp the row to bring in."""
    n = a.shape[0]
    idx = jnp.arange(n)
    absakk = _magnitude(_real_part(a[k, k], hermitian))
    below = jnp.where(idx > k, _magnitude(a[:, k]), -1.0)
    imax = jnp.argmax(below)  # the first largest, as LAPACK's i*amax
    colmax = jnp.maximum(below[imax], 0.0)
    # The largest off-diagonal magnitude in row/column imax of the trailing lower triangle.
    in_row = jnp.where((idx >= k) & (idx < imax), _magnitude(a[imax, :]), 0.0)
    in_column = jnp.where(idx > imax, _magnitude(a[:, imax]), 0.0)
    rowmax = jnp.maximum(jnp.max(in_row), jnp.max(in_column))
    singular = (jnp.maximum(absakk, colmax) == 0) | jnp.isnan(absakk)
    keep = absakk >= ALPHA * colmax
    keep_scaled = absakk >= ALPHA * colmax * (colmax / rowmax)
    swap_one = _magnitude(_real_part(a[imax, imax], hermitian)) >= ALPHA * rowmax
    one_by_one = singular | keep | keep_scaled | swap_one
    kp = jnp.where(singular | keep | keep_scaled, k, imax)
    kstep = jnp.where(one_by_one, 1, 2)
    return kp, kstep, singular


def _ldl_step(state: tuple[Any, Any, Any, Any], hermitian: bool) -> tuple[Any, Any, Any, Any]:
    a, pivots, info, k = state
    n = a.shape[0]
    idx = jnp.arange(n)
    conj = jnp.conj if hermitian else (lambda x: x)
    kp, kstep, singular = _choose_pivot(a, k, hermitian)
    # Interchange rows/columns kk and kp of the trailing matrix (mirrored from its lower triangle,
    # so every entry moved is one LAPACK moves), leaving L's finished columns in place.
    kk = k + kstep - 1
    symmetric = jnp.where(idx[:, None] >= idx[None, :], a, conj(a.T))
    order = jnp.where(idx == kk, kp, jnp.where(idx == kp, kk, idx))
    trailing = (idx[:, None] >= k) & (idx[None, :] >= k)
    a = jnp.where(trailing, symmetric[order][:, order], a)

    # 1x1 pivot: eliminate column k below the diagonal.
    x = jnp.where(idx > k, a[:, k], 0)
    d11 = 1 / _real_part(a[k, k], hermitian)
    one = a + jnp.outer(x, conj(-d11 * x))
    one = one.at[:, k].set(jnp.where(idx > k, x * d11, a[:, k]))

    # 2x2 pivot: eliminate columns k and k+1 below the block, with sytf2's formulas.
    k1 = jnp.minimum(k + 1, n - 1)
    x0 = jnp.where(idx > k1, a[:, k], 0)
    x1 = jnp.where(idx > k1, a[:, k1], 0)
    if hermitian:  # zhetf2 scales by |d21| so that d11, d22 stay real
        scale = jnp.abs(a[k1, k]).astype(a.dtype)
        d11 = _real_part(a[k1, k1], True) / scale
        d22 = _real_part(a[k, k], True) / scale
        d21 = a[k1, k] / scale
        scale = (1 / (d11 * d22 - 1)) / scale
        w0 = scale * (d11 * x0 - d21 * x1)
        w1 = scale * (d22 * x1 - jnp.conj(d21) * x0)
    else:
        d21 = a[k1, k]
        d11 = a[k1, k1] / d21
        d22 = a[k, k] / d21
        d21 = (1 / (d11 * d22 - 1)) / d21
        w0 = d21 * (d11 * x0 - x1)
        w1 = d21 * (d22 * x1 - x0)
    two = a - (jnp.outer(x0, conj(w0)) + jnp.outer(x1, conj(w1)))
    two = two.at[:, k].set(jnp.where(idx > k1, w0, a[:, k]))
    two = two.at[:, k1].set(jnp.where(idx > k1, w1, a[:, k1]))

    a = jnp.where(singular, a, jnp.where(kstep == 1, one, two))
    if hermitian:  # LAPACK keeps the trailing diagonal exactly real
        diagonal = (idx[:, None] == idx[None, :]) & (idx[:, None] >= k)
        a = jnp.where(diagonal, a.real.astype(a.dtype), a)
    info = jnp.where(singular & (info == 0), k + 1, info)
    pivot = jnp.where(kstep == 1, kp + 1, -(kp + 1)).astype(pivots.dtype)
    pivots = pivots.at[k].set(pivot)
    pivots = jnp.where((kstep == 2) & (idx == k + 1), pivot, pivots)
    return a, pivots, info, k + kstep


def _ldl_factor_single(a: Any, hermitian: bool) -> tuple[Any, Any, Any]:
    n = a.shape[0]
    state = (a, jnp.zeros(n, jnp.int32), jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))
    step = functools.partial(_ldl_step, hermitian=hermitian)
    a, pivots, info, _ = jax.lax.while_loop(lambda s: s[3] < n, step, state)
    return jnp.tril(a), pivots, info


def _batched(fn: Any, batch_dims: int) -> Any:
    for _ in range(batch_dims):
        fn = jax.vmap(fn)
    return fn


@implements(aten.linalg_ldl_factor_ex)
def linalg_ldl_factor_ex(
    a: Any, *, hermitian: bool = False, check_errors: bool = False
) -> tuple[Any, Any, Any]:
    batch, n = a.shape[:-2], a.shape[-1]
    if math.prod(batch) == 0 or n == 0:
        return a, jnp.zeros((*batch, n), jnp.int32), jnp.zeros(batch, jnp.int32)
    factor = functools.partial(_ldl_factor_single, hermitian=_is_hermitian(a.dtype, hermitian))
    return _batched(factor, len(batch))(a)


# --------------------------------------------------------------------------------------------------
# Solving with the factors (sytrs)


def _solve_forward_step(
    ld: Any, pivots: Any, hermitian: bool, state: tuple[Any, Any]
) -> tuple[Any, Any]:
    """One block of ``P L D`` solved: swap, eliminate below, divide by the 1x1 or 2x2 pivot."""
    b, k = state
    n = ld.shape[0]
    idx = jnp.arange(n)
    k1 = jnp.minimum(k + 1, n - 1)
    block = pivots[k] < 0

    one = _swap(b, k, pivots[k] - 1)
    one = one - jnp.outer(jnp.where(idx > k, ld[:, k], 0), one[k])
    one = one.at[k].set(one[k] / _real_part(ld[k, k], hermitian))

    two = _swap(b, k1, -pivots[k] - 1)
    two = two - jnp.outer(jnp.where(idx > k1, ld[:, k], 0), two[k])
    two = two - jnp.outer(jnp.where(idx > k1, ld[:, k1], 0), two[k1])
    akm1k = ld[k1, k]
    akm1k_t = jnp.conj(akm1k) if hermitian else akm1k  # the block's upper off-diagonal entry
    akm1 = ld[k, k] / akm1k_t
    ak = ld[k1, k1] / akm1k
    denom = akm1 * ak - 1
    bkm1 = two[k] / akm1k_t
    bk = two[k1] / akm1k
    two = two.at[k].set((ak * bkm1 - bk) / denom)
    two = two.at[k1].set((akm1 * bk - bkm1) / denom)

    return jnp.where(block, two, one), k + jnp.where(block, 2, 1)


def _solve_backward_step(
    ld: Any, pivots: Any, hermitian: bool, state: tuple[Any, Any]
) -> tuple[Any, Any]:
    """One block of ``L^T P^T`` (``L^H P^T``) solved, from the last row up: eliminate above,
    then swap back."""
    b, k = state
    ld = jnp.conj(ld) if hermitian else ld
    n = ld.shape[0]
    idx = jnp.arange(n)
    block = pivots[k] < 0
    below = jnp.where(idx[:, None] > k, b, 0)
    b = b.at[k].add(-(ld[:, k] @ below))
    km1 = jnp.maximum(k - 1, 0)
    b = jnp.where(block, b.at[km1].add(-(ld[:, km1] @ below)), b)
    b = _swap(b, k, jnp.abs(pivots[k]) - 1)
    return b, k - jnp.where(block, 2, 1)


def _ldl_solve_single(ld: Any, pivots: Any, b: Any, hermitian: bool) -> Any:
    n = ld.shape[0]
    zero = jnp.zeros((), jnp.int32)
    forward = functools.partial(_solve_forward_step, ld, pivots, hermitian)
    backward = functools.partial(_solve_backward_step, ld, pivots, hermitian)
    b, _ = jax.lax.while_loop(lambda s: s[1] < n, forward, (b, zero))
    b, _ = jax.lax.while_loop(lambda s: s[1] >= 0, backward, (b, zero + n - 1))
    return b


@implements(aten.linalg_ldl_solve)
def linalg_ldl_solve(ld: Any, pivots: Any, b: Any, *, hermitian: bool = False) -> Any:
    batch = jnp.broadcast_shapes(ld.shape[:-2], b.shape[:-2])
    n = ld.shape[-1]
    ld = jnp.broadcast_to(ld, (*batch, n, n))
    pivots = jnp.broadcast_to(pivots.astype(jnp.int32), (*batch, n))
    b = jnp.broadcast_to(b, (*batch, *b.shape[-2:]))
    if math.prod(batch) == 0 or n == 0 or b.shape[-1] == 0:
        return b.astype(jnp.result_type(ld, b))
    solve = functools.partial(_ldl_solve_single, hermitian=_is_hermitian(ld.dtype, hermitian))
    return _batched(solve, len(batch))(ld, pivots, b)
