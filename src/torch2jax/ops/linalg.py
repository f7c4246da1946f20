"""Matrix products. Float32 precision follows ``torch.get_float32_matmul_precision()``."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from torch2jax.ops._common import aten, cast, precision, promote
from torch2jax.registry import implements


def matmul(a: Any, b: Any) -> Any:
    _, (a, b) = promote(a, b)
    return jnp.matmul(a, b, precision=precision())


implements(aten.mm, aten.bmm, aten.matmul, aten.mv)(matmul)


@implements(aten.dot, aten.inner)
def dot(a: Any, b: Any) -> Any:
    return matmul(a, b)


@implements(aten.vdot)
def vdot(a: Any, b: Any) -> Any:
    return matmul(jnp.conj(a), b)


def _scaled_sum(bias: Any, product: Any, beta: Any, alpha: Any) -> Any:
    dtype, (bias, product) = promote(bias, product)
    if alpha != 1:
        product = product * cast(alpha, dtype)
    if beta == 0:  # PyTorch ignores the bias then, NaN and inf included
        return jnp.broadcast_to(product, jnp.broadcast_shapes(bias.shape, product.shape))
    return (bias if beta == 1 else bias * cast(beta, dtype)) + product


@implements(aten.addmm, aten.baddbmm, aten.addmv)
def addmm(bias: Any, a: Any, b: Any, *, beta: Any = 1, alpha: Any = 1) -> Any:
    return _scaled_sum(bias, matmul(a, b), beta, alpha)


@implements(aten.addbmm)
def addbmm(bias: Any, a: Any, b: Any, *, beta: Any = 1, alpha: Any = 1) -> Any:
    return _scaled_sum(bias, jnp.sum(matmul(a, b), axis=0), beta, alpha)


@implements(aten.addr)
def addr(bias: Any, a: Any, b: Any, *, beta: Any = 1, alpha: Any = 1) -> Any:
    return _scaled_sum(bias, jnp.outer(a, b), beta, alpha)


@implements(aten.outer, aten.ger)
def outer(a: Any, b: Any) -> Any:
    _, (a, b) = promote(a, b)
    return jnp.outer(a, b)
