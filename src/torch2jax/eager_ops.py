"""Eager (un-jitted) calls run each ATen op's lowering as one compiled JAX computation.

A lowering called on concrete arrays would dispatch each of its ``lax``/``jax.numpy`` calls on
its own, and XLA compiles one executable per primitive and shape: a batch norm is half a dozen
compilations, and the first eager call of a convolutional network spends over a minute in XLA.
Here an eager lowering goes through a ``jax.jit`` cached on the lowering and its non-array
arguments, so one ATen op is one dispatch, compiled once per input shape.

Some lowerings need concrete values: output shapes read from the data (``nonzero``, boolean
masks), Python reads (``bincount``'s length), value checks, draws from the conversion's PRNG key,
or a different, exact path when their inputs are concrete (``is_traced``). Those are found by
trying: their first trace raises, and from then on that lowering runs op by op for those
arguments, exactly as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import jax
import torch
from jax._src import core as jax_core

_state = threading.local()
_CompiledLowering = Callable[[list[Any]], Any]
_compiled: dict[tuple, _CompiledLowering] = {}
_op_by_op: set[tuple] = set()


class NeedsConcreteValues(Exception):
    """Raised inside an eager op's trace by a lowering that must see concrete values."""


def refuse_tracing() -> None:
    """Called where a lowering takes a path meant for traced values: inside an eager op's trace
    that path is not what the user's eager call asked for, so the op runs op by op instead."""
    if getattr(_state, "tracing", False):
        raise NeedsConcreteValues


def is_traced(x: Any) -> bool:
    """Whether ``x`` is a JAX tracer of the user's transformation (never an eager op's own)."""
    if isinstance(x, jax.core.Tracer):
        refuse_tracing()
        return True
    return False


def call_lowering(lowering: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """``lowering(*args, **kwargs)``, compiled as a whole when called outside any JAX trace."""
    if not jax_core.trace_ctx.is_top_level():
        return lowering(*args, **kwargs)
    leaves, treedef = jax.tree_util.tree_flatten((args, kwargs))
    arrays, static_key = [], []
    for leaf in leaves:
        if isinstance(leaf, jax.Array):
            arrays.append(leaf)
            static_key.append(_ARRAY)
        else:
            static_key.append(_static_key(leaf))
    key = (lowering, treedef, tuple(static_key), torch.get_default_dtype())
    try:
        compiled = _compiled.get(key)
    except TypeError:  # an unhashable argument: nothing to key a compilation on
        return lowering(*args, **kwargs)
    if compiled is None:
        if key in _op_by_op or _many_scalar_variants(key):
            return lowering(*args, **kwargs)
        compiled = _compiled[key] = _compile(lowering, treedef, leaves)
    _state.tracing = True
    try:
        return compiled(arrays)
    except Exception:
        # Needs concrete values, returns something that is not an array, or is an error the
        # op-by-op call raises again (with the message the user should see).
        del _compiled[key]
        _op_by_op.add(key)
    finally:
        _state.tracing = False
    return lowering(*args, **kwargs)


_ARRAY = object()
_SCALAR = object()
# Compilations per lowering and argument structure that differ only in Python numbers: a loop
# that passes a new number each step (a step size, a noise level) would compile each step, where
# op by op the number is an operand of already compiled primitives.
_scalar_variants: dict[tuple, int] = {}
_MAX_SCALAR_VARIANTS = 8


def _many_scalar_variants(key: tuple) -> bool:
    lowering, treedef, static_key, default_dtype = key
    erased = tuple(
        _SCALAR if isinstance(k, tuple) and k[0] in (int, float) else k for k in static_key
    )
    family = (lowering, treedef, erased, default_dtype)
    count = _scalar_variants.get(family, 0)
    if count >= _MAX_SCALAR_VARIANTS:
        return True
    _scalar_variants[family] = count + 1
    return False


def _static_key(leaf: Any) -> Any:
    # The type keeps 1, 1.0 and True apart (they hash alike but promote differently); float.hex
    # keeps -0.0 apart from 0.0 and makes NaN equal to itself.
    if isinstance(leaf, float):
        return (float, leaf.hex())
    return (type(leaf), leaf)


def _compile(lowering: Callable[..., Any], treedef: Any, leaves: list[Any]) -> _CompiledLowering:
    template = [None if isinstance(leaf, jax.Array) else leaf for leaf in leaves]
    positions = [i for i, leaf in enumerate(leaves) if isinstance(leaf, jax.Array)]

    def run(arrays: list[Any]) -> Any:
        filled = list(template)
        for position, array in zip(positions, arrays, strict=True):
            filled[position] = array
        args, kwargs = jax.tree_util.tree_unflatten(treedef, filled)
        return lowering(*args, **kwargs)

    return jax.jit(run)
