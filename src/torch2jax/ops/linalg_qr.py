"""LAPACK's Householder representation of QR: ``geqrf``, ``householder_product`` (orgqr), ``ormqr``.

``geqrf`` stores R on and above the diagonal and the Householder vectors below it (each with an
implicit 1 on the diagonal), with the scalar factors ``tau``; Q = H_0 H_1 ... H_{k-1} where
H_i = I - tau_i v_i v_i^H. The products apply the reflectors one at a time in a ``fori_loop``,
which JAX differentiates (PyTorch has gradients for both), and costs what LAPACK's unblocked
kernels cost.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from torch2jax.ops._common import aten
from torch2jax.registry import implements


@implements(aten.geqrf)
def geqrf(a: Any) -> Any:
    # mode="raw" returns the reflectors transposed (LAPACK's column-major storage).
    h, tau = jnp.linalg.qr(a, mode="raw")
    return jnp.swapaxes(h, -1, -2), tau


def _reflector(reflectors: Any, i: Any) -> Any:
    """v_i: zeros above row i, 1 at row i, column i of ``reflectors`` below it; shape (..., rows)."""
    column = jax.lax.dynamic_index_in_dim(reflectors, i, axis=-1, keepdims=False)
    rows = jnp.arange(reflectors.shape[-2])
    return jnp.where(rows > i, column, jnp.where(rows == i, 1, 0).astype(reflectors.dtype))


def _apply_reflectors(
    reflectors: Any, tau: Any, c: Any, *, left: bool, adjoint: bool, reverse: bool
) -> Any:
    """``c`` multiplied by H_i (or H_i^H where ``adjoint``) for each i, in order or in ``reverse``.

    From the left: c <- H c = c - tau v (v^H c); from the right: c <- c H = c - tau (c v) v^H.
    """
    k = tau.shape[-1]
    batch = jnp.broadcast_shapes(reflectors.shape[:-2], tau.shape[:-1], c.shape[:-2])
    reflectors = jnp.broadcast_to(reflectors, (*batch, *reflectors.shape[-2:]))
    tau = jnp.broadcast_to(tau, (*batch, k))
    c = jnp.broadcast_to(c, (*batch, *c.shape[-2:]))
    if k == 0:  # no reflectors (the loop body could not even be traced on empty operands)
        return c

    def step(j: Any, c: Any) -> Any:
        i = k - 1 - j if reverse else j
        v = _reflector(reflectors, i)
        t = jax.lax.dynamic_index_in_dim(tau, i, axis=-1, keepdims=True)[..., None]
        if adjoint:
            t = jnp.conj(t)
        if left:
            projection = jnp.sum(jnp.conj(v)[..., :, None] * c, axis=-2, keepdims=True)
            return c - t * v[..., :, None] * projection
        projection = jnp.sum(c * v[..., None, :], axis=-1, keepdims=True)
        return c - t * projection * jnp.conj(v)[..., None, :]

    return jax.lax.fori_loop(0, k, step, c)


@implements(aten.linalg_householder_product)
def linalg_householder_product(reflectors: Any, tau: Any) -> Any:
    m, n = reflectors.shape[-2:]
    identity = jnp.broadcast_to(jnp.eye(m, n, dtype=reflectors.dtype), reflectors.shape)
    # Q I = H_0 (H_1 (... (H_{k-1} I))): the last reflector first.
    return _apply_reflectors(reflectors, tau, identity, left=True, adjoint=False, reverse=True)


@implements(aten.ormqr)
def ormqr(reflectors: Any, tau: Any, c: Any, left: bool = True, transpose: bool = False) -> Any:
    # Q C applies H_{k-1} first and C Q applies H_0 first; the adjoints reverse both orders.
    reverse = left != transpose
    return _apply_reflectors(reflectors, tau, c, left=left, adjoint=transpose, reverse=reverse)
