"""Special functions: gamma family, Bessel functions, orthogonal polynomials, float decomposition.

The orthogonal polynomials take their degree ``n`` as a tensor, so they run PyTorch's three-term
recurrences in a ``lax.while_loop`` up to the largest degree, keeping each element's value once its
own degree is reached; where PyTorch switches to a closed form (large degrees inside [-1, 1],
the endpoints) the same closed form is used, so results agree to round-off.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.scipy.special as jss
import numpy as np

from torch2jax.ops._common import aten, cast, result_type, to_float
from torch2jax.registry import implements


def _float(x: Any) -> Any:
    return cast(x, to_float(x.dtype))


def _binary_float(x: Any, y: Any) -> tuple[Any, Any]:
    dtype = to_float(result_type(x, y))
    return cast(x, dtype), cast(y, dtype)


# --------------------------------------------------------------------------------------------------
# Gamma family


@jax.custom_jvp
def _trigamma(x: Any) -> Any:
    """PyTorch's trigamma: reflection below 1/2, six recurrence steps, then the asymptotic series.

    (JAX's ``polygamma(1, x)`` goes through the Hurwitz zeta function, which is wrong for
    x below about -8.)
    """
    reflect = x < 0.5
    sin_pi_x = jnp.sin(jnp.pi * x)
    result = jnp.where(reflect, -(jnp.pi * jnp.pi) / (sin_pi_x * sin_pi_x), 0.0).astype(x.dtype)
    x = jnp.where(reflect, 1 - x, x)
    for _ in range(6):
        result = result + 1 / (x * x)
        x = x + 1
    ixx = 1 / (x * x)
    result = result + (1 + 1 / (2 * x) + ixx * (1.0 / 6 - ixx * (1.0 / 30 - ixx * (1.0 / 42)))) / x
    return jnp.where(reflect, -result, result)


def _hurwitz_zeta(s: Any, q: Any) -> Any:
    """zeta(s, q) for real s and q, as PyTorch (Cephes) computes it.

    Cephes gives inf at s = 1 and at the poles q = 0, -1, -2, ..., and NaN for s < 1 and for
    negative q with a non-integer s. JAX's zeta is wrong for negative q; there the sum is shifted
    to positive q first: zeta(s, q) = sum_{k<m} (q + k)^-s + zeta(s, q + m).
    """
    s = jnp.asarray(s, q.dtype)
    integer_s = s == jnp.floor(s)
    shift = jnp.where((q < 1) & integer_s, jnp.ceil(1 - q), 0.0).astype(q.dtype)

    def body(state: tuple[Any, Any]) -> tuple[Any, Any]:
        k, total = state
        return k + 1, total + jnp.where(k < shift, (q + k) ** -s, 0.0)

    _, head = jax.lax.while_loop(
        lambda state: state[0] < jnp.max(shift, initial=0.0),
        body,
        (jnp.asarray(0.0, q.dtype), jnp.zeros_like(q)),
    )
    value = head + jss.zeta(s, q + shift)
    pole = (s == 1) | ((q <= 0) & (q == jnp.floor(q)))
    undefined = (s < 1) | ((q < 0) & ~integer_s)
    return jnp.where(pole & (s >= 1), jnp.inf, jnp.where(undefined, jnp.nan, value))


@implements(aten.special_zeta)
def zeta(s: Any, q: Any) -> Any:
    s, q = jnp.broadcast_arrays(*_binary_float(s, q))
    return _hurwitz_zeta(s, q)


def _polygamma(n: int, x: Any) -> Any:
    """PyTorch's polygamma for n >= 2: (-1)^(n+1) n! zeta(n + 1, x)."""
    factorial = float(np.prod(np.arange(1, n + 1)))
    return (1.0 if n % 2 else -1.0) * factorial * _hurwitz_zeta(n + 1, x)


@_trigamma.defjvp
def _trigamma_jvp(primals: tuple[Any], tangents: tuple[Any]) -> tuple[Any, Any]:
    (x,), (dx,) = primals, tangents
    return _trigamma(x), _polygamma(2, x) * dx


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _polygamma_n(n: int, x: Any) -> Any:
    return _polygamma(n, x)


@_polygamma_n.defjvp
def _polygamma_n_jvp(n: int, primals: tuple[Any], tangents: tuple[Any]) -> tuple[Any, Any]:
    (x,), (dx,) = primals, tangents
    return _polygamma_n(n, x), _polygamma(n + 1, x) * dx


@jax.custom_jvp
def _digamma(x: Any) -> Any:
    # PyTorch: digamma(0) = -inf (JAX: NaN); NaN at the negative integers as in JAX.
    return jnp.where(x == 0, jnp.asarray(-jnp.inf, x.dtype), jss.digamma(x))


@_digamma.defjvp
def _digamma_jvp(primals: tuple[Any], tangents: tuple[Any]) -> tuple[Any, Any]:
    (x,), (dx,) = primals, tangents
    return _digamma(x), _trigamma(x) * dx


@implements(aten.digamma)
def digamma(x: Any) -> Any:
    return _digamma(_float(x))


@implements(aten.polygamma)
def polygamma(n: int, x: Any) -> Any:
    x = _float(x)
    if n == 0:
        return _digamma(x)
    if n == 1:
        return _trigamma(x)
    return _polygamma_n(n, x)


@implements(aten.igamma)
def igamma(a: Any, x: Any) -> Any:
    a, x = _binary_float(a, x)
    return jss.gammainc(a, x)


@implements(aten.igammac)
def igammac(a: Any, x: Any) -> Any:
    a, x = _binary_float(a, x)
    return jss.gammaincc(a, x)


# --------------------------------------------------------------------------------------------------
# Bessel functions


@implements(aten.special_modified_bessel_i0)
def modified_bessel_i0(x: Any) -> Any:
    return jss.i0(_float(x))


@implements(aten.special_modified_bessel_i1)
def modified_bessel_i1(x: Any) -> Any:
    return jss.i1(_float(x))


@implements(aten.special_spherical_bessel_j0)
def spherical_bessel_j0(x: Any) -> Any:
    x = _float(x)
    x2 = x * x
    series = 1.0 + x2 * (
        -1.0 / 6.0
        + x2
        * (1.0 / 120.0 + x2 * (-1.0 / 5040.0 + x2 * (1.0 / 362880.0 + x2 * (-1.0 / 39916800.0))))
    )
    safe = jnp.where(jnp.abs(x) < 0.5, 1.0, x)
    return jnp.where(
        jnp.isinf(x), jnp.zeros_like(x), jnp.where(jnp.abs(x) < 0.5, series, jnp.sin(safe) / safe)
    )


# --------------------------------------------------------------------------------------------------
# Orthogonal polynomials


def _recurrence(
    x: Any, n: Any, first: Any, second: Any, step: Callable[[Any, Any, Any, Any], Any]
) -> Any:
    """P_n(x) from P_0 = first, P_1 = second and P_m = step(m, x, P_{m-1}, P_{m-2})."""
    n = jnp.broadcast_to(n, x.shape)
    first = jnp.broadcast_to(first, x.shape).astype(x.dtype)
    second = jnp.broadcast_to(second, x.shape).astype(x.dtype)
    top = jnp.max(n, initial=1)

    def body(state: tuple[Any, Any, Any]) -> tuple[Any, Any, Any]:
        m, previous, current = state
        new = step(m.astype(x.dtype), x, current, previous)
        active = m <= n
        return m + 1, jnp.where(active, current, previous), jnp.where(active, new, current)

    _, _, value = jax.lax.while_loop(
        lambda state: state[0] <= top, body, (jnp.asarray(2, n.dtype), first, second)
    )
    return jnp.where(n == 0, first, value)


def _degree(x: Any, n: Any) -> tuple[Any, Any]:
    """x as floating point and n truncated to an integer, as PyTorch's kernels take them, both
    broadcast to their common shape."""
    x, n = jnp.broadcast_arrays(*_binary_float(x, n))
    return x, jnp.trunc(n).astype(jnp.int32 if not jax.config.jax_enable_x64 else jnp.int64)


def _odd(n: Any) -> Any:
    return n % 2 == 1


def _chebyshev_t(x: Any, n: Any) -> Any:
    value = _recurrence(x, n, 1.0, x, lambda m, x, p1, p2: (x + x) * p1 - p2)
    large = (n > 6) & (jnp.abs(x) < 1)
    closed = jnp.cos(n.astype(x.dtype) * jnp.arccos(jnp.clip(x, -1, 1)))
    endpoint = jnp.where((x > 0) | ~_odd(n), 1.0, -1.0).astype(x.dtype)
    value = jnp.where(large, closed, value)
    value = jnp.where(jnp.abs(x) == 1, endpoint, value)
    return jnp.where(n < 0, jnp.zeros_like(x), value)


def _chebyshev_u(x: Any, n: Any) -> Any:
    value = _recurrence(x, n, 1.0, x + x, lambda m, x, p1, p2: (x + x) * p1 - p2)
    theta = jnp.arccos(jnp.clip(x, -1, 1))
    nf = n.astype(x.dtype)
    sin_theta = jnp.sin(theta)
    closed = jnp.where(
        sin_theta != 0,
        jnp.sin((nf + 1) * theta) / jnp.where(sin_theta != 0, sin_theta, 1),
        (nf + 1) * jnp.cos((nf + 1) * theta) / x,
    )
    endpoint = jnp.where((x > 0) | ~_odd(n), nf + 1, -(nf + 1))
    value = jnp.where((n > 8) & (jnp.abs(x) < 1), closed, value)
    value = jnp.where(jnp.abs(x) == 1, endpoint, value)
    return jnp.where(n < 0, jnp.zeros_like(x), value)


def _chebyshev_v(x: Any, n: Any) -> Any:
    value = _recurrence(x, n, 1.0, x + x - 1, lambda m, x, p1, p2: (x + x) * p1 - p2)
    theta = jnp.arccos(jnp.clip(x, -1, 1))
    nf = n.astype(x.dtype)
    odd_sign = jnp.where(_odd(n), -(nf + nf + 1), nf + nf + 1)
    half = jnp.sin(theta / 2)
    closed = jnp.where(half != 1, jnp.cos((nf + 0.5) * theta) / jnp.cos(theta / 2), odd_sign)
    endpoint = jnp.where(x > 0, jnp.ones_like(x), odd_sign)
    value = jnp.where((n > 8) & (jnp.abs(x) < 1), closed, value)
    value = jnp.where(jnp.abs(x) == 1, endpoint, value)
    return jnp.where(n < 0, jnp.zeros_like(x), value)


def _chebyshev_w(x: Any, n: Any) -> Any:
    value = _recurrence(x, n, 1.0, x + x + 1, lambda m, x, p1, p2: (x + x) * p1 - p2)
    theta = jnp.arccos(jnp.clip(x, -1, 1))
    nf = n.astype(x.dtype)
    sign = jnp.where(_odd(n), -1.0, 1.0).astype(x.dtype)
    half = jnp.cos(theta / 2)
    closed = jnp.where(
        half != 1,
        jnp.sin((nf + 0.5) * theta) / jnp.sin(theta / 2),
        jnp.where(x > 0, nf + nf + 1, sign),
    )
    endpoint = jnp.where(x > 0, nf + nf + 1, sign)
    value = jnp.where((n > 8) & (jnp.abs(x) < 1), closed, value)
    value = jnp.where(jnp.abs(x) == 1, endpoint, value)
    return jnp.where(n < 0, jnp.zeros_like(x), value)


@implements(aten.special_chebyshev_polynomial_t)
def chebyshev_polynomial_t(x: Any, n: Any) -> Any:
    return _chebyshev_t(*_degree(x, n))


@implements(aten.special_chebyshev_polynomial_u)
def chebyshev_polynomial_u(x: Any, n: Any) -> Any:
    return _chebyshev_u(*_degree(x, n))


@implements(aten.special_chebyshev_polynomial_v)
def chebyshev_polynomial_v(x: Any, n: Any) -> Any:
    return _chebyshev_v(*_degree(x, n))


@implements(aten.special_chebyshev_polynomial_w)
def chebyshev_polynomial_w(x: Any, n: Any) -> Any:
    return _chebyshev_w(*_degree(x, n))


# The shifted polynomials are the plain ones at 2x - 1 (PyTorch computes x + x - 1 too).
@implements(aten.special_shifted_chebyshev_polynomial_t)
def shifted_chebyshev_polynomial_t(x: Any, n: Any) -> Any:
    x, n = _degree(x, n)
    return _chebyshev_t(x + x - 1, n)


@implements(aten.special_shifted_chebyshev_polynomial_u)
def shifted_chebyshev_polynomial_u(x: Any, n: Any) -> Any:
    x, n = _degree(x, n)
    return _chebyshev_u(x + x - 1, n)


@implements(aten.special_shifted_chebyshev_polynomial_v)
def shifted_chebyshev_polynomial_v(x: Any, n: Any) -> Any:
    x, n = _degree(x, n)
    return _chebyshev_v(x + x - 1, n)


@implements(aten.special_shifted_chebyshev_polynomial_w)
def shifted_chebyshev_polynomial_w(x: Any, n: Any) -> Any:
    x, n = _degree(x, n)
    return _chebyshev_w(x + x - 1, n)


@implements(aten.special_hermite_polynomial_h)
def hermite_polynomial_h(x: Any, n: Any) -> Any:
    x, n = _degree(x, n)
    value = _recurrence(x, n, 1.0, x + x, lambda m, x, p1, p2: (x + x) * p1 - (m + m - 2) * p2)
    return jnp.where(n < 0, jnp.zeros_like(x), value)


@implements(aten.special_hermite_polynomial_he)
def hermite_polynomial_he(x: Any, n: Any) -> Any:
    x, n = _degree(x, n)
    value = _recurrence(x, n, 1.0, x, lambda m, x, p1, p2: x * p1 - (m - 1) * p2)
    return jnp.where(n < 0, jnp.zeros_like(x), value)


@implements(aten.special_laguerre_polynomial_l)
def laguerre_polynomial_l(x: Any, n: Any) -> Any:
    x, n = _degree(x, n)
    value = _recurrence(
        x,
        n,
        1.0,
        1 - x,
        lambda m, x, p1, p2: (((m - 1) + (m - 1) + (1 - x)) * p1 - (m - 1) * p2) / m,
    )
    value = jnp.where(x == 0, jnp.ones_like(x), value)
    return jnp.where(n < 0, jnp.zeros_like(x), value)


@implements(aten.special_legendre_polynomial_p)
def legendre_polynomial_p(x: Any, n: Any) -> Any:
    x, n = _degree(x, n)
    value = _recurrence(
        x, n, 1.0, x, lambda m, x, p1, p2: (((m - 1) + (m - 1) + 1) * x * p1 - (m - 1) * p2) / m
    )
    endpoint = jnp.where((x > 0) | (n == 0) | ~_odd(n), 1.0, -1.0).astype(x.dtype)
    value = jnp.where(jnp.abs(x) == 1, endpoint, value)
    return jnp.where(n < 0, jnp.zeros_like(x), value)


# --------------------------------------------------------------------------------------------------
# Floating-point decomposition, complex construction


@implements(aten.frexp)
def frexp(x: Any) -> Any:
    mantissa, exponent = jnp.frexp(x)
    return mantissa, exponent.astype(jnp.int32)


@implements(aten.angle)
def angle(x: Any) -> Any:
    if jnp.iscomplexobj(x):
        return jnp.angle(x)
    x = _float(x)
    # Real input: pi for negatives, 0 otherwise, NaN kept.
    return jnp.where(jnp.isnan(x), x, jnp.where(x < 0, jnp.pi, 0.0).astype(x.dtype))


@implements(aten.complex)
def complex_(real: Any, imag: Any) -> Any:
    real, imag = jnp.broadcast_arrays(real, imag)
    return jax.lax.complex(real, imag)


@implements(aten.polar)
def polar(magnitude: Any, phase: Any) -> Any:
    return complex_(magnitude * jnp.cos(phase), magnitude * jnp.sin(phase))
