"""Elementwise operations: arithmetic, comparisons, math functions, casts.

Most are one-to-one with a ``jax.numpy``/``jax.lax`` function and differ only in how PyTorch
promotes dtypes, so they live in tables keyed by promotion kind (PyTorch's
``ELEMENTWISE_TYPE_PROMOTION_KIND``); the ones with their own semantics have their own function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.scipy.special as jss
import numpy as np

from torch2jax.ops import _lax
from torch2jax.ops._common import (
    aten,
    cast,
    category,
    default_float,
    is_array,
    jax_dtype,
    promote,
    real_dtype,
    result_type,
    rounded_apart,
    to_float,
)
from torch2jax.registry import implements

# --------------------------------------------------------------------------------------------------
# Tables


def _unary_same(fn: Callable[[Any], Any]) -> Callable[..., Any]:
    """DEFAULT promotion for one operand: the result keeps the input's dtype."""

    def lowering(x: Any) -> Any:
        return fn(x)

    return lowering


def _unary_int_to_float(fn: Callable[[Any], Any]) -> Callable[..., Any]:
    """INT_TO_FLOAT: integer and bool inputs compute in the default float dtype."""
    fn = _LAX_UNARY.get(fn, fn)

    def lowering(x: Any) -> Any:
        return fn(cast(x, to_float(x.dtype)))

    return lowering


# jax.numpy functions that are one lax primitive on floating (and complex) inputs.
_LAX_UNARY = {
    jnp.exp: jax.lax.exp,
    jnp.log: jax.lax.log,
    jnp.tanh: jax.lax.tanh,
    jnp.sqrt: jax.lax.sqrt,
    jnp.sin: jax.lax.sin,
    jnp.cos: jax.lax.cos,
    jax.nn.sigmoid: jax.lax.logistic,
}


def _unary_bool(fn: Callable[[Any], Any]) -> Callable[..., Any]:
    def lowering(x: Any) -> Any:
        return fn(x).astype(jnp.bool_)

    return lowering


def _binary_default(fn: Callable[[Any, Any], Any]) -> Callable[..., Any]:
    fast = _LAX_BINARY.get(fn)

    def lowering(a: Any, b: Any) -> Any:
        dtype, (a, b) = _promote_fast(a, b)
        if fast is not None and 1 <= category(dtype) <= 2:  # bool, complex: jax.numpy's rules
            return _lax.binary(fast, a, b)
        return fn(a, b)

    return lowering


def _promote_fast(*operands: Any) -> tuple[np.dtype, list[Any]]:
    """``promote`` with Python scalars as NumPy constants (inlined by JAX, no traced op)."""
    dtype = result_type(*operands)
    return dtype, [_lax.constant(x, dtype) for x in operands]


# Binary jax.numpy functions that are one lax primitive on integer or real operands of one dtype.
_LAX_BINARY = {
    jnp.multiply: jax.lax.mul,
    jnp.maximum: jax.lax.max,
    jnp.minimum: jax.lax.min,
    jnp.add: jax.lax.add,
    jnp.subtract: jax.lax.sub,
}


def _binary_int_to_float(fn: Callable[[Any, Any], Any]) -> Callable[..., Any]:
    def lowering(a: Any, b: Any) -> Any:
        dtype = to_float(result_type(a, b))
        return fn(cast(a, dtype), cast(b, dtype))

    return lowering


def _binary_bool(fn: Callable[[Any, Any], Any]) -> Callable[..., Any]:
    """ALWAYS_BOOL: operands compare in their common dtype, the result is bool."""

    def lowering(a: Any, b: Any) -> Any:
        _, (a, b) = promote(a, b)
        return fn(a, b)

    return lowering


def _sign(x: Any) -> Any:
    return x if x.dtype == jnp.bool_ else jnp.sign(x)


def _sgn(x: Any) -> Any:
    if category(x.dtype) == 3:
        magnitude = jnp.abs(x)
        return jnp.where(magnitude == 0, 0, x / jnp.where(magnitude == 0, 1, magnitude)).astype(
            x.dtype
        )
    return _sign(x)


def _trunc_or_identity(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """ceil/floor/round/trunc leave integers unchanged (jnp would turn them into floats)."""
    return lambda x: fn(x) if category(x.dtype) >= 2 else x


# Inverse functions whose derivative PyTorch computes from 1 - x^2 with x^2 rounded first: near
# |x| = 1 that difference cancels, so the rounding shows. XLA's CPU backend would fuse the product
# into the subtraction (one fused multiply-add, one rounding); `rounded_apart` keeps them apart so
# that jax.grad rounds as torch.autograd does.


def _rounded_square(x: Any) -> Any:
    return rounded_apart(x * x)


@jax.custom_jvp
def _real_asin(x: Any) -> Any:
    return jnp.arcsin(x)


@_real_asin.defjvp
def _real_asin_jvp(primals: tuple[Any], tangents: tuple[Any]) -> tuple[Any, Any]:
    (x,), (dx,) = primals, tangents
    return _real_asin(x), dx * jax.lax.rsqrt(1 - _rounded_square(x))


@jax.custom_jvp
def _real_atanh(x: Any) -> Any:
    return jnp.arctanh(x)


@_real_atanh.defjvp
def _real_atanh_jvp(primals: tuple[Any], tangents: tuple[Any]) -> tuple[Any, Any]:
    (x,), (dx,) = primals, tangents
    return _real_atanh(x), dx / (1 - _rounded_square(x))


def _asin(x: Any) -> Any:
    return jnp.arcsin(x) if jnp.iscomplexobj(x) else _real_asin(x)


def _atanh(x: Any) -> Any:
    return jnp.arctanh(x) if jnp.iscomplexobj(x) else _real_atanh(x)


@jax.custom_jvp
def _nextafter(x: Any, toward: Any) -> Any:
    return jnp.nextafter(x, toward)


@_nextafter.defjvp
def _nextafter_jvp(primals: tuple[Any, Any], tangents: tuple[Any, Any]) -> tuple[Any, Any]:
    # PyTorch's derivative: the step is locally constant, so the result moves with x; the
    # direction contributes nothing.
    (x, toward), (dx, _) = primals, tangents
    out = _nextafter(x, toward)
    return out, jnp.broadcast_to(dx, out.shape).astype(out.dtype)


UNARY_SAME = {
    aten.neg: jnp.negative,
    aten.positive: lambda x: x,
    aten.ceil: _trunc_or_identity(jnp.ceil),
    aten.floor: _trunc_or_identity(jnp.floor),
    aten.trunc: _trunc_or_identity(jnp.trunc),
    aten.fix: _trunc_or_identity(jnp.trunc),
    aten.frac: lambda x: x - jnp.trunc(x),
    aten.sign: _sign,
    aten.sgn: _sgn,
    aten.bitwise_not: lambda x: jnp.logical_not(x) if x.dtype == jnp.bool_ else jnp.invert(x),
    aten.conj_physical: jnp.conj,
    aten._conj_physical: jnp.conj,
    aten.square: lambda x: jnp.square(x) if x.dtype != jnp.bool_ else x,
}


@jax.custom_jvp
def _i0(x: Any) -> Any:
    return jss.i0(x)


@_i0.defjvp
def _i0_jvp(primals: tuple[Any], tangents: tuple[Any]) -> tuple[Any, Any]:
    # d/dx i0 = i1, which is 0 at x = 0. jax.scipy's i0 is exp(|x|) * i0e(x), whose derivative
    # at 0 takes |x|'s one-sided slope of 1.
    (x,), (tangent,) = primals, tangents
    return jss.i0(x), jss.i1(x) * tangent


UNARY_INT_TO_FLOAT = {
    aten.sin: jnp.sin,
    aten.cos: jnp.cos,
    aten.tan: jnp.tan,
    aten.asin: _asin,
    aten.acos: jnp.arccos,
    aten.atan: jnp.arctan,
    aten.sinh: jnp.sinh,
    aten.cosh: jnp.cosh,
    aten.tanh: jnp.tanh,
    aten.asinh: jnp.arcsinh,
    aten.acosh: jnp.arccosh,
    aten.atanh: _atanh,
    aten.exp: jnp.exp,
    aten.exp2: jnp.exp2,
    aten.expm1: jnp.expm1,
    aten.log: jnp.log,
    aten.log2: jnp.log2,
    aten.log10: jnp.log10,
    aten.log1p: jnp.log1p,
    aten.sqrt: jnp.sqrt,
    aten.rsqrt: jax.lax.rsqrt,
    aten.reciprocal: jnp.reciprocal,
    aten.sigmoid: jax.nn.sigmoid,
    aten.erf: jss.erf,
    aten.erfc: jss.erfc,
    aten.lgamma: jss.gammaln,
    aten.i0: _i0,
    aten.special_i0e: jss.i0e,
    aten.special_i1: jss.i1,
    aten.special_i1e: jss.i1e,
    aten.special_ndtri: jss.ndtri,
    aten.special_ndtr: jss.ndtr,
    aten.special_log_ndtr: jss.log_ndtr,
    aten.special_erfcx: jss.erfcx,
    aten.sinc: jnp.sinc,
    aten.deg2rad: jnp.deg2rad,
    aten.rad2deg: jnp.rad2deg,
}

UNARY_BOOL = {
    aten.isnan: jnp.isnan,
    aten.isinf: jnp.isinf,
    aten.isfinite: jnp.isfinite,
    aten.isposinf: jnp.isposinf,
    aten.isneginf: jnp.isneginf,
    aten.logical_not: jnp.logical_not,
    aten.signbit: jnp.signbit,
}

BINARY_DEFAULT = {
    aten.mul: jnp.multiply,
    aten.maximum: jnp.maximum,
    aten.minimum: jnp.minimum,
    aten.remainder: jnp.remainder,
    aten.fmod: jnp.fmod,
    aten.bitwise_and: jnp.bitwise_and,
    aten.bitwise_or: jnp.bitwise_or,
    aten.bitwise_xor: jnp.bitwise_xor,
    aten.bitwise_left_shift: jnp.left_shift,
    aten.bitwise_right_shift: jnp.right_shift,
    aten.__lshift__: jnp.left_shift,
    aten.__rshift__: jnp.right_shift,
    aten.floor_divide: jnp.floor_divide,
    aten.nextafter: _nextafter,
    aten.gcd: jnp.gcd,
    aten.lcm: jnp.lcm,
}

BINARY_INT_TO_FLOAT = {
    aten.atan2: jnp.arctan2,
    aten.arctan2: jnp.arctan2,
    aten.copysign: jnp.copysign,
    aten.hypot: jnp.hypot,
    aten.logaddexp: jnp.logaddexp,
    aten.logaddexp2: jnp.logaddexp2,
    aten.xlogy: jss.xlogy,
    aten.special_xlog1py: jss.xlog1py,
}

BINARY_BOOL = {
    aten.eq: jnp.equal,
    aten.ne: jnp.not_equal,
    aten.lt: jnp.less,
    aten.le: jnp.less_equal,
    aten.gt: jnp.greater,
    aten.ge: jnp.greater_equal,
    aten.logical_and: jnp.logical_and,
    aten.logical_or: jnp.logical_or,
    aten.logical_xor: jnp.logical_xor,
}

for _table, _make in (
    (UNARY_SAME, _unary_same),
    (UNARY_INT_TO_FLOAT, _unary_int_to_float),
    (UNARY_BOOL, _unary_bool),
    (BINARY_DEFAULT, _binary_default),
    (BINARY_INT_TO_FLOAT, _binary_int_to_float),
    (BINARY_BOOL, _binary_bool),
):
    for _op, _fn in _table.items():
        implements(_op)(_make(_fn))


# --------------------------------------------------------------------------------------------------
# Operations with their own semantics


@implements(aten.add)
def add(a: Any, b: Any, *, alpha: Any = 1) -> Any:
    dtype, (a, b) = _promote_fast(a, b)
    if dtype == jnp.bool_:
        return a + (b if alpha == 1 else b * cast(alpha, dtype))
    if alpha != 1:
        b = _lax.binary(jax.lax.mul, b, _lax.constant(alpha, dtype))
    return _lax.binary(jax.lax.add, a, b)


@implements(aten.sub)
def sub(a: Any, b: Any, *, alpha: Any = 1) -> Any:
    dtype, (a, b) = _promote_fast(a, b)
    if dtype == jnp.bool_:
        return a - (b if alpha == 1 else b * cast(alpha, dtype))
    if alpha != 1:
        b = _lax.binary(jax.lax.mul, b, _lax.constant(alpha, dtype))
    return _lax.binary(jax.lax.sub, a, b)


@implements(aten.rsub)
def rsub(a: Any, b: Any, *, alpha: Any = 1) -> Any:
    return sub(b, a, alpha=alpha)


@implements(aten.div)
def div(a: Any, b: Any, *, rounding_mode: str | None = None) -> Any:
    dtype = result_type(a, b)
    if rounding_mode is None:
        dtype = to_float(dtype)
        return _lax.binary(jax.lax.div, _lax.constant(a, dtype), _lax.constant(b, dtype))
    a, b = cast(a, dtype), cast(b, dtype)
    if rounding_mode == "trunc":
        if category(dtype) >= 2:
            return jnp.trunc(a / b).astype(dtype)
        return _lax.binary(jax.lax.div, a, b)  # integer division truncates toward zero
    return jnp.floor_divide(a, b)


@implements(aten.heaviside)
def heaviside(x: Any, values: Any) -> Any:
    # PyTorch's kernel: values where x == 0, else (x > 0) in the common dtype, so NaN gives 0
    # (jnp.heaviside gives NaN) and integer or bool inputs keep their dtype.
    dtype, (x, values) = promote(x, values)
    return jnp.where(x == 0, values, (x > 0).astype(dtype))


@implements(aten.abs)
def abs_(x: Any) -> Any:
    if x.dtype == jnp.bool_:
        return x
    if jnp.issubdtype(x.dtype, jnp.floating):
        # x * sign(x) is exact and has PyTorch's gradient at 0 (sign(0) = 0); jnp.abs's is 1.
        return x * jnp.sign(x)
    return jnp.abs(x).astype(real_dtype(x.dtype))


@implements(aten.fmax)
def fmax(a: Any, b: Any) -> Any:
    # NaN-ignoring maximum whose tie gradient splits in half as PyTorch's does (jnp.fmax gives a
    # tie's whole gradient to the second operand).
    _, (a, b) = promote(a, b)
    return jnp.where(jnp.isnan(a), b, jnp.where(jnp.isnan(b), a, jnp.maximum(a, b)))


@implements(aten.fmin)
def fmin(a: Any, b: Any) -> Any:
    _, (a, b) = promote(a, b)
    return jnp.where(jnp.isnan(a), b, jnp.where(jnp.isnan(b), a, jnp.minimum(a, b)))


@implements(aten.round)
def round_(x: Any, *, decimals: int = 0) -> Any:
    if category(x.dtype) < 2:
        return x
    if decimals == 0:
        return jnp.round(x)
    scale = 10.0**decimals
    return (jnp.round(x * scale) / scale).astype(x.dtype)


@implements(aten.pow)
def pow_(base: Any, exponent: Any) -> Any:
    dtype, (b, e) = promote(base, exponent)
    if not is_array(exponent) and category(dtype) >= 2 and float(exponent).is_integer():
        if abs(exponent) <= 4:
            return jax.lax.integer_pow(b, int(exponent))
    if not is_array(exponent) and exponent == 0.5 and category(dtype) == 2:
        return jnp.sqrt(b)
    if category(dtype) == 1:
        return _integer_power(b, e)
    return jnp.power(b, e)


def _integer_power(base: Any, exponent: Any) -> Any:
    """PyTorch's integer power: a negative exponent truncates 1 / base**-exponent toward zero.

    That is 1 for base 1, +-1 for base -1 (by the exponent's parity) and 0 otherwise, where
    XLA's integer power would loop on the negative exponent's bits.
    """
    positive = jnp.power(base, jnp.maximum(exponent, 0))
    odd = (exponent % 2) != 0
    reciprocal = jnp.where(base == 1, 1, jnp.where(base == -1, jnp.where(odd, -1, 1), 0))
    return jnp.where(exponent < 0, reciprocal.astype(base.dtype), positive)


@implements(aten.float_power)
def float_power(base: Any, exponent: Any) -> Any:
    dtype = (
        np.dtype(jnp.complex128)
        if category(result_type(base, exponent)) == 3
        else np.dtype(jnp.float64)
    )
    dtype = jax.dtypes.canonicalize_dtype(dtype)
    return jnp.power(cast(base, dtype), cast(exponent, dtype))


@implements(aten.where)
def where(condition: Any, a: Any, b: Any) -> Any:
    _, (a, b) = promote(a, b)
    return jnp.where(condition, a, b)


@implements(aten.clamp, aten.clip)
def clamp(x: Any, min: Any = None, max: Any = None) -> Any:
    dtype = result_type(x, min, max)
    x = cast(x, dtype)
    # Tensor bounds differentiate like maximum/minimum (a tie splits the gradient in half, as in
    # PyTorch); scalar bounds like PyTorch's clamp_backward: no gradient on a bound itself.
    if min is not None:
        low = cast(min, dtype)
        x = jnp.maximum(x, low) if is_array(min) else jnp.where(x <= low, low, x)
    if max is not None:
        high = cast(max, dtype)
        x = jnp.minimum(x, high) if is_array(max) else jnp.where(x >= high, high, x)
    return x


@implements(aten.clamp_min)
def clamp_min(x: Any, min: Any) -> Any:
    return clamp(x, min=min)


@implements(aten.clamp_max)
def clamp_max(x: Any, max: Any) -> Any:
    return clamp(x, max=max)


@implements(aten.nan_to_num)
def nan_to_num(
    x: Any, nan: float | None = 0.0, posinf: float | None = None, neginf: float | None = None
) -> Any:
    if category(x.dtype) < 2:
        return x
    return jnp.nan_to_num(x, nan=0.0 if nan is None else nan, posinf=posinf, neginf=neginf)


@implements(aten.lerp)
def lerp(start: Any, end: Any, weight: Any) -> Any:
    dtype, (start, end, weight) = promote(start, end, weight)
    # PyTorch's formula: more exact near weight = 1 than start + weight * (end - start).
    return jnp.where(
        jnp.abs(weight) < 0.5, start + weight * (end - start), end - (end - start) * (1 - weight)
    ).astype(dtype)


@implements(aten.addcmul)
def addcmul(x: Any, t1: Any, t2: Any, *, value: Any = 1) -> Any:
    dtype, (x, t1, t2) = promote(x, t1, t2)
    return x + cast(value, dtype) * t1 * t2


@implements(aten.addcdiv)
def addcdiv(x: Any, t1: Any, t2: Any, *, value: Any = 1) -> Any:
    dtype, (x, t1, t2) = promote(x, t1, t2)
    return x + cast(value, dtype) * (t1 / t2)


@implements(aten.logit)
def logit(x: Any, eps: float | None = None) -> Any:
    x = cast(x, to_float(x.dtype))
    if eps is not None:
        # PyTorch's clamp order: below eps first, then above 1 - eps. With eps > 0.5 the bounds
        # cross and the order decides (jnp.clip would give 1 - eps everywhere).
        low = cast(eps, x.dtype)
        high = 1 - low  # in x's dtype, as PyTorch's kernel computes it
        x = jnp.where(x < low, low, jnp.where(x > high, high, x))
    return jnp.log(x / (1 - x))


@implements(aten.mvlgamma)
def mvlgamma(x: Any, p: int) -> Any:
    x = cast(x, to_float(x.dtype))
    return jss.multigammaln(x, p).astype(x.dtype)


# --------------------------------------------------------------------------------------------------
# Casts, copies and complex views


@implements(aten._to_copy)
def to_copy(x: Any, *, dtype: Any = None, **_placement: Any) -> Any:
    if dtype is None:
        return jnp.array(x, copy=False) if is_array(x) else x
    target = jax_dtype(dtype)
    if target == jnp.bool_:
        return x != 0
    if category(x.dtype) == 3 and category(target) < 3:
        x = jnp.real(x)
    return x.astype(target)


@implements(aten.clone, aten.lift_fresh, aten.lift_fresh_copy, aten.alias, aten.alias_copy)
def clone(x: Any, *, memory_format: Any = None) -> Any:
    return x


@implements(aten.detach, aten.detach_copy)
def detach(x: Any) -> Any:
    return jax.lax.stop_gradient(x)


@implements(aten.view_as_real, aten.view_as_real_copy)
def view_as_real(x: Any) -> Any:
    return jnp.stack([jnp.real(x), jnp.imag(x)], axis=-1)


@implements(aten.view_as_complex, aten.view_as_complex_copy)
def view_as_complex(x: Any) -> Any:
    return jax.lax.complex(x[..., 0], x[..., 1])


@implements(aten.real)
def real(x: Any) -> Any:
    return jnp.real(x) if category(x.dtype) == 3 else x


@implements(aten.imag)
def imag(x: Any) -> Any:
    return jnp.imag(x)


@implements(aten.resolve_conj, aten.resolve_neg)
def resolve(x: Any) -> Any:
    return x


@implements(aten._conj, aten._conj_copy)
def conj(x: Any) -> Any:
    return jnp.conj(x) if category(x.dtype) == 3 else x


@implements(aten._neg_view, aten._neg_view_copy)
def neg_view(x: Any) -> Any:
    return -x


@implements(aten.scalar_tensor)
def scalar_tensor(value: Any, *, dtype: Any = None, **_placement: Any) -> Any:
    return jnp.asarray(value, jax_dtype(dtype, default_float()))


@implements(aten.copy)
def copy(x: Any, src: Any, non_blocking: bool = False) -> Any:
    """The functional form of ``x.copy_(src)``: src broadcast to x's shape, in x's dtype."""
    return jnp.broadcast_to(cast(src, x.dtype), x.shape)
