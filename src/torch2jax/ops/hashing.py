"""``torch.hash_tensor``: the XOR of the elements' 64-bit patterns (floats widened to float64,
integers and bools to 64-bit integers), reduced over dimensions, as a uint64."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from torch2jax.ops._common import aten, canonical_dims
from torch2jax.registry import implements


def _wide(dtype: Any) -> Any:
    kind = np.dtype(dtype).kind
    if kind in "fV":
        return jnp.float64
    if kind in "ub":
        return jnp.uint64
    if kind == "i":
        return jnp.int64
    raise NotImplementedError(f"torch2jax: hash_tensor of {np.dtype(dtype)} values")


@implements(aten.hash_tensor)
def hash_tensor(
    x: Any, dim: Sequence[int] | int = (), *, keepdim: bool = False, mode: int = 0
) -> Any:
    if mode != 0:
        raise RuntimeError(f"hash_tensor: only mode=0 (xor reduction) is supported, got {mode}")
    if not jax.config.jax_enable_x64:
        raise NotImplementedError(
            "torch2jax: torch.hash_tensor returns 64-bit hashes of 64-bit patterns, which need "
            "jax_enable_x64 (jax.config.update('jax_enable_x64', True))."
        )
    dims = canonical_dims(dim, x.ndim)
    if x.size == 0 and (dim == () or dim == []):
        raise RuntimeError(
            "hash_tensor: Expected reduction dim to be specified for input.numel() == 0. "
            "Specify the reduction dim with the 'dim' argument."
        )
    bits = jax.lax.bitcast_convert_type(x.astype(_wide(x.dtype)), jnp.uint64)
    out = jax.lax.reduce(bits, np.uint64(0), jax.lax.bitwise_xor, dims)
    if keepdim:
        out = jnp.expand_dims(out, dims)
    return out
