"""The matrix exponential, ``aten.linalg_matrix_exp``, computed by PyTorch's own algorithm.

JAX's ``expm`` (a Padé scheme) and PyTorch's ``matrix_exp`` are both accurate to about 1e-6
relative in float32, but not to each other: after the squarings their round-off differs by more
than float32 tolerances. To give PyTorch's numbers this module follows PyTorch's scheme, the
optimized Taylor polynomials of Bader, Blanes & Casas (2019), "Computing the matrix exponential
with an optimized Taylor polynomial approximation":

- A single matrix (the flattened batch has one element) takes the cheapest polynomial, of degree
  1, 2, 4, 8, 12 or 18, whose error bound theta (per dtype) is above its 1-norm; above the
  degree-12 bound it takes degree 18 with scaling by ``2**-s`` and ``s`` squarings,
  ``s = max(0, ceil(log2(norm / theta_18)))``. A matrix with a NaN norm gives NaNs.
- A batch of several matrices always takes degree 18 with scaling and squaring, each matrix with
  its own ``s``.
- 1x1 matrices are the elementwise exponential.

The operations (the linear combinations, summed left to right, and the order of the products),
the constants rounded to the working dtype, and for matrices up to 11x11 the summation order
inside each product are PyTorch's, so that round-off matches too: float32 results are PyTorch's
bit for bit on small matrices.

The gradient is PyTorch's backward formula rather than the derivative of the polynomial: the
upper-right block of the exponential, by the same algorithm, of the block matrix
``[[A^T, G], [0, A^T]]`` (PyTorch's ``A^H`` with its conjugated cotangent, in JAX's convention).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from torch2jax.ops._common import aten, rounded_apart
from torch2jax.registry import implements

# 1-norm bounds below which each degree (1, 2, 4, 8, 12, 18) is accurate to the dtype's precision.
_THETAS_SINGLE = (
    1.192092800768788e-07,
    5.978858893805233e-04,
    5.116619363445086e-02,
    5.800524627688768e-01,
    1.461661507209034e00,
    3.010066362817634e00,
)
_THETAS_DOUBLE = (
    2.220446049250313e-16,
    2.580956802971767e-08,
    3.397168839976962e-04,
    4.991228871115323e-02,
    2.996158913811580e-01,
    1.090863719290036e00,
)

# Degree 12: rows are B_0..B_3, columns the coefficients of I, A, A^2, A^3.
_T12_COEFFICIENTS = (
    (9.0198e-16, 0.46932117595418237389, -0.20099424927047284052, -0.04623946134063071740),
    (
        5.31597895759871264183,
        1.19926790417132231573,
        0.01179296240992997031,
        0.01108844528519167989,
    ),
    (
        0.18188869982170434744,
        0.05502798439925399070,
        0.09351590770535414968,
        0.00610700528898058230,
    ),
    (-2.0861320e-13, -0.13181061013830184015, -0.02027855540589259079, -0.00675951846863086359),
)

# Degree 18: rows are B_0..B_4, columns the coefficients of I, A, A^2, A^3, A^6.
_T18_COEFFICIENTS = (
    (
        0.0,
        -1.00365581030144618291e-01,
        -8.02924648241156932449e-03,
        -8.92138498045729985177e-04,
        0.0,
    ),
    (
        0.0,
        3.97849749499645077844e-01,
        1.36783778460411720168e00,
        4.98289622525382669416e-01,
        -6.37898194594723280150e-04,
    ),
    (
        -1.09676396052962061844e01,
        1.68015813878906206114e00,
        5.71779846478865511061e-02,
        -6.98210122488052056106e-03,
        3.34975017086070470649e-05,
    ),
    (
        -9.04316832390810593223e-02,
        -6.76404519071381882256e-02,
        6.75961301770459654925e-02,
        2.95552570429315521194e-02,
        -1.39180257516060693404e-05,
    ),
    (
        0.0,
        0.0,
        -9.23364619367118555360e-02,
        -1.69364939002081722752e-02,
        -1.40086798182036094347e-05,
    ),
)


def _real_dtype(dtype: Any) -> np.dtype:
    return np.finfo(dtype).dtype


def _is_single(dtype: Any) -> bool:
    return _real_dtype(dtype) == np.float32


def _thetas(dtype: Any) -> tuple[float, ...]:
    return _THETAS_SINGLE if _is_single(dtype) else _THETAS_DOUBLE


def _constant(value: float, dtype: Any) -> Any:
    """A coefficient rounded to the working precision, as PyTorch's ``scalar_t`` constants are."""
    return np.asarray(value, _real_dtype(dtype))


def _t8_constants(dtype: Any) -> tuple[Any, ...]:
    """x1..x7 and y2 of the degree-8 scheme. PyTorch rounds sqrt(177) and 2/3 to the working
    precision first, evaluates each expression in double from those, then rounds the result."""
    sqrt_177 = float(_constant(0.1330413469565007072504e2, dtype))
    x3 = float(_constant(2.0 / 3.0, dtype))
    values = (
        x3 * ((1.0 + sqrt_177) / 88.0),
        x3 * ((1.0 + sqrt_177) / 352.0),
        x3,
        (-271.0 + 29.0 * sqrt_177) / (315.0 * x3),
        (-11.0 + 11.0 * sqrt_177) / (1260.0 * x3),
        (-99.0 + 11.0 * sqrt_177) / (5040.0 * x3),
        (89.0 - sqrt_177) / (5040.0 * x3),
        (857.0 - 58.0 * sqrt_177) / 630.0,
    )
    return tuple(_constant(v, dtype) for v in values)


# Up to this size PyTorch's CPU products (its own loop below 400 multiply-adds, MKL's small-matrix
# kernels above, as measured) sum each entry over k in order, rounding each product before adding
# it, and so does ``_matmul``. (MKL sums a few entries of 9x9 to 11x11 products in two halves,
# which rarely changes a bit.) Larger products are BLAS's, whose blocking and use of fused
# multiply-adds are the library's own: there XLA's dot it is.
_SMALL_MATMUL_SIZE = 11


def _matmul(a: Any, b: Any) -> Any:
    """A product with PyTorch's summation order where that order is known (small matrices)."""
    if a.shape[-1] > _SMALL_MATMUL_SIZE:
        # PyTorch disables TF32 for matrix_exp: full precision whatever the matmul setting.
        return jnp.matmul(a, b, precision=jax.lax.Precision.HIGHEST)
    products = rounded_apart(a[..., :, :, None] * b[..., None, :, :])
    total = products[..., :, 0, :]
    for k in range(1, a.shape[-1]):
        total = total + products[..., :, k, :]
    return total


def _combine(matrices: list[Any], coefficients: tuple[float, ...]) -> Any:
    """sum_j c_j * M_j, accumulated left to right like PyTorch's linear-combination kernel."""
    dtype = matrices[0].dtype
    total = rounded_apart(_constant(coefficients[0], dtype) * matrices[0])
    for c, m in zip(coefficients[1:], matrices[1:], strict=True):
        total = total + rounded_apart(_constant(c, dtype) * m)
    return total


def _identity_like(a: Any) -> Any:
    return jnp.broadcast_to(jnp.eye(a.shape[-1], dtype=a.dtype), a.shape)


def _powers(a: Any, count: int) -> list[Any]:
    """The first ``count`` of I, A, A^2, A^3 = A A^2, A^6 = A^3 A^3."""
    powers = [_identity_like(a), a]
    if count > 2:
        powers.append(_matmul(a, a))
    if count > 3:
        powers.append(_matmul(a, powers[2]))
    if count > 4:
        powers.append(_matmul(powers[3], powers[3]))
    return powers[:count]


def _taylor_1(a: Any) -> Any:
    identity, a1 = _powers(a, 2)
    return identity + a1


def _taylor_2(a: Any) -> Any:
    identity, a1, a2 = _powers(a, 3)
    return identity + a1 + a2 / 2


def _taylor_4(a: Any) -> Any:
    """I + A + A^2 (I/2 + A/6 + A^2/24)."""
    powers = _powers(a, 3)
    tail = _matmul(powers[2], _combine(powers, (1 / 2.0, 1 / 6.0, 1 / 24.0)))
    return _combine([*powers, tail], (1.0, 1.0, 0.0, 1.0))


def _taylor_8(a: Any) -> Any:
    x1, x2, x3, x4, x5, x6, x7, y2 = _t8_constants(a.dtype)
    identity, a1, a2 = _powers(a, 3)
    a4 = _matmul(a2, _combine([a1, a2], (x1, x2)))
    a8 = _matmul(_combine([a2, a4], (x3, 1.0)), _combine([identity, a1, a2, a4], (x4, x5, x6, x7)))
    return _combine([identity, a1, a2, a4, a8], (1.0, 1.0, y2, 0.0, 1.0))


def _taylor_12(a: Any) -> Any:
    powers = _powers(a, 4)
    b0, b1, b2, b3 = (_combine(powers, row) for row in _T12_COEFFICIENTS)
    a6 = b2 + _matmul(b3, b3)
    return b0 + _matmul(b1 + a6, a6)


def _taylor_18(a: Any) -> Any:
    powers = _powers(a, 5)
    b0, b1, b2, b3, b4 = (_combine(powers, row) for row in _T18_COEFFICIENTS)
    a9 = b3 + _matmul(b0, b4)
    return b1 + _matmul(b2 + a9, a9)


def _one_norm(a: Any) -> Any:
    """The largest absolute column sum of each matrix."""
    return jnp.max(jnp.sum(jnp.abs(a), axis=-2), axis=-1)


def _square_repeatedly(m: Any, times: Any) -> Any:
    """Squares each matrix of the batch ``m`` its own number of ``times`` (data-dependent)."""

    def body(state: tuple[Any, Any]) -> tuple[Any, Any]:
        i, m = state
        squared = _matmul(m, m)
        return i + 1, jnp.where((i < times)[:, None, None], squared, m)

    _, m = jax.lax.while_loop(lambda state: state[0] < jnp.max(times), body, (0, m))
    return m


def _scaled_taylor_18(a: Any, norm: Any) -> Any:
    """Degree 18 on A / 2^s, squared s times, with s = max(0, ceil(log2(norm / theta_18)))."""
    theta = _constant(_thetas(a.dtype)[-1], a.dtype)
    s = jnp.maximum(jnp.ceil(jnp.log2(norm / theta)), 0)
    # A NaN or infinite norm squares no times: the polynomial already carries the NaNs.
    times = jnp.where(jnp.isfinite(s), s, 0).astype(jnp.int32)
    # Exact powers of two (XLA's exp2 of an integer is not always exact).
    factor = jnp.ldexp(jnp.ones((), _real_dtype(a.dtype)), -times)
    scaled = a * factor[:, None, None]
    return _square_repeatedly(_taylor_18(scaled), times)


def _degree_index(norm: Any, thetas: tuple[float, ...]) -> Any:
    """0..4 for degrees 1..12 (the first theta the norm is at most), 5 for scaled degree 18
    (from the degree-12 bound on, inclusive, as in PyTorch)."""
    below = sum((norm > theta).astype(jnp.int32) for theta in thetas[:4])
    return jnp.where(norm >= thetas[4], 5, below)


def _single_matrix_exp(a: Any) -> Any:
    """One matrix (shape (1, n, n)): the cheapest polynomial its norm allows."""
    norm = _one_norm(a)
    index = _degree_index(norm[0], _thetas(a.dtype))
    branches = [
        _taylor_1,
        _taylor_2,
        _taylor_4,
        _taylor_8,
        _taylor_12,
        lambda x: _scaled_taylor_18(x, _one_norm(x)),
    ]
    result = jax.lax.switch(index, branches, a)
    # PyTorch leaves NaN-filled the matrices whose norm falls in no interval.
    return jnp.where(jnp.isnan(norm)[:, None, None], jnp.nan, result)


def _matrix_exp_value(a: Any) -> Any:
    n = a.shape[-1]
    if a.size == 0:
        return a
    if n == 1:
        return jnp.exp(a)
    flat = a.reshape((-1, n, n))
    if flat.shape[0] == 1:
        result = _single_matrix_exp(flat)
    else:
        result = _scaled_taylor_18(flat, _one_norm(flat))
    return result.reshape(a.shape)


@jax.custom_vjp
def _matrix_exp(a: Any) -> Any:
    return _matrix_exp_value(a)


def _matrix_exp_fwd(a: Any) -> tuple[Any, Any]:
    # The value through the custom rule again: differentiating a gradient differentiates this
    # value too, and the squaring loop (a while loop) has no reverse-mode derivative of its own.
    return _matrix_exp(a), a


def _matrix_exp_bwd(a: Any, g: Any) -> tuple[Any]:
    """PyTorch's backward: the upper-right block of exp([[A^T, G], [0, A^T]]), by the same
    algorithm (its batch size decides the scheme, as in PyTorch)."""
    n = a.shape[-1]
    at = jnp.swapaxes(a, -1, -2)
    zeros = jnp.zeros_like(at)
    block = jnp.concatenate(
        [jnp.concatenate([at, g], axis=-1), jnp.concatenate([zeros, at], axis=-1)], axis=-2
    )
    return (_matrix_exp(block)[..., :n, n:],)


_matrix_exp.defvjp(_matrix_exp_fwd, _matrix_exp_bwd)


@implements(aten.linalg_matrix_exp)
def linalg_matrix_exp(a: Any) -> Any:
    if jnp.dtype(a.dtype).itemsize < 4:
        # float16/bfloat16: PyTorch's CPU kernel reads its double coefficients as half-precision
        # values and returns garbage; the float32 scheme, rounded, is the meaningful answer.
        return _matrix_exp(a.astype(jnp.float32)).astype(a.dtype)
    return _matrix_exp(a)
