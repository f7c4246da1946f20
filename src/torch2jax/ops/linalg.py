"""Matrix products. Float32 precision follows ``torch.get_float32_matmul_precision()``."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import torch

from torch2jax import registry
from torch2jax.convert import to_jax_dtype
from torch2jax.ops import _lax
from torch2jax.ops._common import aten, cast, precision, promote, rounded_apart
from torch2jax.registry import implements


def matmul(a: Any, b: Any) -> Any:
    _, (a, b) = promote(a, b)
    product = _lax.matmul(a, b)  # one dot_general where no broadcasting is needed
    return product if product is not None else jnp.matmul(a, b, precision=precision())


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
    if dtype == jnp.bool_:
        return (bias if beta == 1 else bias * cast(beta, dtype)) + product
    if beta != 1:
        bias = _lax.binary(jax.lax.mul, bias, _lax.constant(beta, dtype))
    return _lax.add(bias, product)


@implements(aten.addmm, aten.baddbmm, aten.addmv)
def addmm(bias: Any, a: Any, b: Any, *, beta: Any = 1, alpha: Any = 1) -> Any:
    return _scaled_sum(bias, matmul(a, b), beta, alpha)


@implements(torch.nn.functional.linear)
def linear(x: Any, weight: Any, bias: Any = None) -> Any:
    """``x @ weight.T + bias``; with a single row, one product that contracts the weight in place.

    PyTorch decomposes ``F.linear`` into ``weight.t()`` and a matrix product. XLA folds that
    transpose into its matrix-product kernels, except for a single row (a classifier at batch
    1, every layer of a decode step), where it copies the whole transposed weight first: 4.5x
    slower on ResNet-18's head than contracting the weight's second dimension where it lies.
    More rows keep PyTorch's decomposition, and with it the rounding of the jitted products
    (XLA fuses a product without the transpose into its elementwise consumers)."""
    rows = math.prod(x.shape[:-1])
    if weight.ndim == 2 and rows != 1:
        out = matmul(_lax.reshape(x, (rows, x.shape[-1])), _lax.swap(weight, 0, 1))
        out = _lax.reshape(out, x.shape[:-1] + weight.shape[:1])
    else:
        _, (x, weight) = promote(x, weight)
        contracting = ((x.ndim - 1,), (weight.ndim - 1,))
        out = jax.lax.dot_general(x, weight, (contracting, ((), ())), precision=precision())
    return out if bias is None else _scaled_sum(bias, out, 1, 1)


# PyTorch's CPU addbmm is a loop of addmm over the batch; for small matrices its BLAS kernels add
# (alpha * a[:, k]) * b[k, :] into the result one k at a time, each product rounded on its own
# (measured: bit for bit on OpInfo's samples). Up to this many of those steps (batch x k, every
# side at most 11, where that order holds) addbmm follows it; beyond, one batched product.
_ADDBMM_ORDERED_STEPS = 64
_SMALL_MATRIX_SIDE = 11


def _addbmm_in_pytorch_order(bias: Any, a: Any, b: Any, beta: Any, alpha: Any) -> Any:
    dtype, (bias, a, b) = promote(bias, a, b)
    shape = (a.shape[1], b.shape[2])
    if beta == 0:  # PyTorch ignores the bias then, NaN and inf included
        total = jnp.zeros(shape, dtype)
    else:
        total = jnp.broadcast_to(
            bias if beta == 1 else rounded_apart(bias * cast(beta, dtype)), shape
        )
    scaled_a = a if alpha == 1 else a * cast(alpha, dtype)
    for batch in range(a.shape[0]):
        for k in range(a.shape[2]):
            product = scaled_a[batch, :, k, None] * b[batch, None, k, :]
            total = total + rounded_apart(product)
    return total


@implements(aten.addbmm)
def addbmm(bias: Any, a: Any, b: Any, *, beta: Any = 1, alpha: Any = 1) -> Any:
    batch, m, k = a.shape
    small = max(m, k, b.shape[2]) <= _SMALL_MATRIX_SIDE and batch * k <= _ADDBMM_ORDERED_STEPS
    if small and batch > 0 and jnp.issubdtype(jnp.result_type(a, b), jnp.floating):
        return _addbmm_in_pytorch_order(bias, a, b, beta, alpha)
    return _scaled_sum(bias, jnp.sum(matmul(a, b), axis=0), beta, alpha)


@implements(aten.addr)
def addr(bias: Any, a: Any, b: Any, *, beta: Any = 1, alpha: Any = 1) -> Any:
    return _scaled_sum(bias, jnp.outer(a, b), beta, alpha)


@implements(aten.outer, aten.ger)
def outer(a: Any, b: Any) -> Any:
    _, (a, b) = promote(a, b)
    return jnp.outer(a, b)


_GROUPED_MM_API = (
    (torch.nn.functional.grouped_mm,) if hasattr(torch.nn.functional, "grouped_mm") else ()
)


@implements(aten._grouped_mm, torch._grouped_mm, *_GROUPED_MM_API)
def grouped_mm(a: Any, b: Any, offs: Any = None, bias: Any = None, out_dtype: Any = None) -> Any:
    """Mixture-of-experts matmul: rows of ``a`` (S, K) sorted by group, ``offs`` the cumulative
    group ends; row s is multiplied by ``b[group(s)]`` (groups, K, N). Rows past ``offs[-1]``
    (left uninitialized by PyTorch) are 0 here. A 3-D ``a`` without ``offs`` is a batched matmul.

    Also registered at API level: PyTorch's stride check on the wrapper tensors (16-byte aligned
    strides, a CUDA kernel's constraint) would otherwise refuse shapes XLA handles fine."""
    if offs is None and a.ndim == 3 and b.ndim == 3:
        out = matmul(a, b)
    elif offs is not None and a.ndim == 2 and b.ndim == 3:
        dtype, (a, b) = promote(a, b)
        rows = jnp.arange(a.shape[0])
        group = jnp.searchsorted(offs, rows, side="right")
        select = (group[:, None] == jnp.arange(b.shape[0])[None, :]).astype(dtype)
        out = jnp.einsum("se,sk,ekn->sn", select, a, b, precision=precision())
    else:
        raise NotImplementedError(
            f"torch2jax: grouped_mm of a {a.ndim}-D by a {b.ndim}-D operand "
            f"{'with' if offs is not None else 'without'} offs is not supported yet; "
            "supported: 2-D x 3-D with offs, 3-D x 3-D without."
        )
    if bias is not None:
        out = out + bias
    return out if out_dtype is None else out.astype(to_jax_dtype(out_dtype))


def _register_transformers_ops() -> None:
    # transformers' own grouped_mm (a custom op it uses where PyTorch's is unavailable, float32
    # under compilation included): the same computation.
    implements(torch.ops.transformers.grouped_mm_fallback.default)(grouped_mm)


registry.lazy_namespaces["transformers"] = _register_transformers_ops
