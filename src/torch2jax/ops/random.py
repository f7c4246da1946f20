"""Random operations: every draw comes from the conversion's JAX PRNG key.

Each operation splits a fresh key off the key passed as ``rng=`` (``Conversion.next_key``), so the
same key gives the same numbers eagerly, under ``jit`` and per example under ``vmap``. A
``torch.Generator`` argument is accepted, but its state is neither read nor advanced: the key is
the only source of randomness. The numbers differ from PyTorch's (a different generator); their
distributions are PyTorch's.

In-place forms (``x.uniform_()``, ``x.normal_()``, ``x.bernoulli_(p)``, ...) arrive here as their
functional ATen counterparts (``aten.uniform``, ``aten.normal_functional``, ...), and the dropout
family arrives decomposed into ``bernoulli``, so one lowering per distribution covers them all.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import torch

from torch2jax.ops._common import aten, default_float, jax_dtype, to_jax_dtype
from torch2jax.registry import implements
from torch2jax.torchish import current_conversion

prims = torch.ops.prims


def _key(aten_op: str) -> Any:
    """A fresh key for one draw; the error without ``rng=`` names the user's call and the op."""
    conversion = current_conversion()
    api = conversion.current_api_call()
    return conversion.next_key(f"{api} ({aten_op})" if api else aten_op)


def _shape(size: Sequence[int] | int) -> tuple[int, ...]:
    return (int(size),) if isinstance(size, int) else tuple(int(s) for s in size)


def _float_dtype(dtype: torch.dtype | None, default: Any = None) -> Any:
    return jax_dtype(dtype, default if default is not None else default_float())


def _int64() -> Any:
    return to_jax_dtype(torch.int64)


def _uniform(key: Any, shape: tuple[int, ...], dtype: Any, low: float = 0.0, high: float = 1.0):
    # Draw in at least float32: jax.random.uniform in float16 has too few distinct values.
    draw_dtype = jnp.promote_types(dtype, jnp.float32)
    return jax.random.uniform(key, shape, draw_dtype, low, high).astype(dtype)


def _normal(key: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    draw_dtype = jnp.promote_types(dtype, jnp.float32)
    return jax.random.normal(key, shape, draw_dtype).astype(dtype)


# --------------------------------------------------------------------------------------------------
# Uniform and normal


@implements(aten.rand)
def rand(size: Sequence[int], *, generator: Any = None, dtype: Any = None, **_placement: Any):
    return _uniform(_key("aten.rand"), _shape(size), _float_dtype(dtype))


@implements(aten.rand_like)
def rand_like(x: Any, *, generator: Any = None, dtype: Any = None, **_placement: Any) -> Any:
    return _uniform(_key("aten.rand_like"), x.shape, _float_dtype(dtype, x.dtype))


@implements(aten.uniform)
def uniform(x: Any, low: float = 0.0, high: float = 1.0, *, generator: Any = None) -> Any:
    return _uniform(_key("aten.uniform"), x.shape, x.dtype, low, high)


@implements(prims.uniform)
def prims_uniform(shape: Sequence[int], *, low: float, high: float, dtype: Any, **_rest: Any):
    return _uniform(_key("prims.uniform"), _shape(shape), to_jax_dtype(dtype), low, high)


@implements(aten.randn)
def randn(size: Sequence[int], *, generator: Any = None, dtype: Any = None, **_placement: Any):
    return _normal(_key("aten.randn"), _shape(size), _float_dtype(dtype))


@implements(aten.randn_like)
def randn_like(x: Any, *, generator: Any = None, dtype: Any = None, **_placement: Any) -> Any:
    return _normal(_key("aten.randn_like"), x.shape, _float_dtype(dtype, x.dtype))


@implements(aten.normal_functional)
def normal_functional(x: Any, mean: float = 0.0, std: float = 1.0, *, generator: Any = None):
    return (mean + std * _normal(_key("aten.normal_"), x.shape, x.dtype)).astype(x.dtype)


@implements(prims.normal)
def prims_normal(shape: Sequence[int], *, mean: float, std: float, dtype: Any, **_rest: Any):
    target = to_jax_dtype(dtype)
    return (mean + std * _normal(_key("prims.normal"), _shape(shape), target)).astype(target)


def _normal_with(mean: Any, std: Any, shape: tuple[int, ...], dtype: Any) -> Any:
    return (mean + std * _normal(_key("aten.normal"), shape, dtype)).astype(dtype)


@implements(aten.normal.Tensor_float)
def normal_tensor_float(mean: Any, std: float = 1.0, *, generator: Any = None) -> Any:
    return _normal_with(mean, std, mean.shape, mean.dtype)


@implements(aten.normal.float_Tensor)
def normal_float_tensor(mean: float, std: Any, *, generator: Any = None) -> Any:
    return _normal_with(mean, std, std.shape, std.dtype)


@implements(aten.normal.Tensor_Tensor)
def normal_tensor_tensor(mean: Any, std: Any, *, generator: Any = None) -> Any:
    shape = jnp.broadcast_shapes(mean.shape, std.shape)
    return _normal_with(mean, std, shape, jnp.result_type(mean, std))


@implements(aten.normal.float_float)
def normal_float_float(
    mean: float,
    std: float,
    size: Sequence[int],
    *,
    generator: Any = None,
    dtype: Any = None,
    **_placement: Any,
) -> Any:
    return _normal_with(mean, std, _shape(size), _float_dtype(dtype))


# --------------------------------------------------------------------------------------------------
# Integers, permutations, categorical draws


def _randint(key: Any, shape: tuple[int, ...], low: int, high: int, dtype: Any) -> Any:
    # Draw in a wide integer type, then cast: the target may be float or narrower than the range.
    draw_dtype = _int64()
    low = max(int(low), int(jnp.iinfo(draw_dtype).min))
    high = min(int(high), int(jnp.iinfo(draw_dtype).max))
    return jax.random.randint(key, shape, low, high, draw_dtype).astype(dtype)


@implements(aten.randint)
def randint(*args: Any, generator: Any = None, dtype: Any = torch.int64, **_placement: Any):
    low, high, size = (0, *args) if len(args) == 2 else args
    target = jax_dtype(dtype, _int64())
    return _randint(_key("aten.randint"), _shape(size), low, high, target)


@implements(aten.randint_like)
def randint_like(x: Any, *args: Any, generator: Any = None, dtype: Any = None, **_placement: Any):
    low, high = (0, *args) if len(args) == 1 else args
    return _randint(
        _key("aten.randint_like"), x.shape, int(low), int(high), jax_dtype(dtype, x.dtype)
    )


def _random_bounds(dtype: Any) -> tuple[int, int]:
    """``x.random_()`` without bounds: every integer the dtype represents exactly, from 0."""
    if dtype == jnp.bool_:
        return 0, 2
    if jnp.issubdtype(dtype, jnp.floating):
        return 0, 2 ** (jnp.finfo(dtype).nmant + 1) + 1
    return 0, int(jnp.iinfo(dtype).max)


@implements(aten.random)
def random_integers(x: Any, *args: Any, generator: Any = None) -> Any:
    if len(args) == 0:
        low, high = _random_bounds(x.dtype)
    elif len(args) == 1:
        low, high = 0, args[0]
    else:
        low, high = args[0], args[1] if args[1] is not None else _random_bounds(x.dtype)[1]
    return _randint(_key("aten.random_"), x.shape, low, high, x.dtype)


@implements(aten.randperm)
def randperm(n: int, *, generator: Any = None, dtype: Any = torch.int64, **_placement: Any):
    return jax.random.permutation(_key("aten.randperm"), int(n)).astype(jax_dtype(dtype, _int64()))


@implements(aten.multinomial)
def multinomial(
    probs: Any, num_samples: int, replacement: bool = False, *, generator: Any = None
) -> Any:
    key = _key("aten.multinomial")
    logits = jnp.log(probs.astype(jnp.promote_types(probs.dtype, jnp.float32)))
    if replacement:
        batch = probs.shape[:-1]
        draws = jax.random.categorical(key, logits, axis=-1, shape=(num_samples, *batch))
        samples = jnp.moveaxis(draws, 0, -1)
    else:
        # Gumbel top-k: the k largest perturbed logits are a draw without replacement.
        perturbed = logits + jax.random.gumbel(key, logits.shape, logits.dtype)
        samples = jax.lax.top_k(perturbed, num_samples)[1]
    return samples.astype(_int64())


# --------------------------------------------------------------------------------------------------
# Bernoulli, Poisson and the in-place distributions of ``Tensor``


def _bernoulli(p: Any, shape: tuple[int, ...], dtype: Any, op: str) -> Any:
    draw = _uniform(_key(op), shape, jnp.promote_types(jnp.result_type(p), jnp.float32))
    return (draw < p).astype(dtype)


@implements(aten.bernoulli.default)
def bernoulli(probs: Any, *, generator: Any = None) -> Any:
    return _bernoulli(probs, probs.shape, probs.dtype, "aten.bernoulli")


@implements(aten.bernoulli.p, aten.bernoulli.Tensor)
def bernoulli_p(x: Any, p: Any = 0.5, *, generator: Any = None) -> Any:
    return _bernoulli(p, x.shape, x.dtype, "aten.bernoulli")


@implements(aten.poisson)
def poisson(rates: Any, generator: Any = None) -> Any:
    draw = jax.random.poisson(_key("aten.poisson"), rates, rates.shape)
    return draw.astype(rates.dtype)


@implements(aten.exponential)
def exponential(x: Any, lambd: float = 1.0, *, generator: Any = None) -> Any:
    draw_dtype = jnp.promote_types(x.dtype, jnp.float32)
    return (jax.random.exponential(_key("aten.exponential_"), x.shape, draw_dtype) / lambd).astype(
        x.dtype
    )


@implements(aten.geometric)
def geometric(x: Any, p: float, *, generator: Any = None) -> Any:
    # Trials up to the first success: P(X > k) = (1 - p)^k, from u uniform on (0, 1].
    draw_dtype = jnp.promote_types(x.dtype, jnp.float32)
    u = 1.0 - jax.random.uniform(_key("aten.geometric_"), x.shape, draw_dtype)
    return (jnp.floor(jnp.log(u) / math.log1p(-p)) + 1).astype(x.dtype)


@implements(aten.cauchy)
def cauchy(x: Any, median: float = 0.0, sigma: float = 1.0, *, generator: Any = None) -> Any:
    draw_dtype = jnp.promote_types(x.dtype, jnp.float32)
    draw = jax.random.cauchy(_key("aten.cauchy_"), x.shape, draw_dtype)
    return (median + sigma * draw).astype(x.dtype)


@implements(aten.log_normal)
def log_normal(x: Any, mean: float = 1.0, std: float = 2.0, *, generator: Any = None) -> Any:
    draw = _normal(_key("aten.log_normal_"), x.shape, jnp.promote_types(x.dtype, jnp.float32))
    return jnp.exp(mean + std * draw).astype(x.dtype)


# --------------------------------------------------------------------------------------------------
# Dropout and randomized leaky ReLU


@implements(aten.native_dropout)
def native_dropout(x: Any, p: float, train: bool | None) -> tuple[Any, Any]:
    if not train or p == 0.0:
        return x, jnp.ones(x.shape, jnp.bool_)
    if p == 1.0:
        return jnp.zeros_like(x), jnp.zeros(x.shape, jnp.bool_)
    keep = _bernoulli(1.0 - p, x.shape, jnp.bool_, "aten.native_dropout")
    return jnp.where(keep, x / (1.0 - p), 0).astype(x.dtype), keep


def _rrelu(x: Any, noise: Any, lower: float, upper: float, training: bool) -> tuple[Any, Any]:
    if not training:
        return jnp.where(x >= 0, x, x * ((lower + upper) / 2)).astype(x.dtype), noise
    slopes = _uniform(_key("aten.rrelu_with_noise"), x.shape, x.dtype, lower, upper)
    positive = x > 0
    return jnp.where(positive, x, x * slopes), jnp.where(positive, 1, slopes).astype(noise.dtype)


@implements(aten.rrelu_with_noise_functional)
def rrelu_with_noise_functional(
    x: Any,
    noise: Any,
    lower: float = 0.125,
    upper: float = 1.0 / 3.0,
    training: bool = False,
    generator: Any = None,
) -> tuple[Any, Any]:
    return _rrelu(x, noise, float(lower), float(upper), training)


@implements(aten.rrelu_with_noise)
def rrelu_with_noise(
    x: Any,
    noise: Any,
    lower: float = 0.125,
    upper: float = 1.0 / 3.0,
    training: bool = False,
    generator: Any = None,
) -> Any:
    return _rrelu(x, noise, float(lower), float(upper), training)[0]
