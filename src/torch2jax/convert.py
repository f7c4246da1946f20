"""Tensor <-> array conversion and the dtype correspondence between PyTorch and JAX."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch

TORCH_TO_JAX_DTYPE: dict[torch.dtype, Any] = {
    torch.float16: jnp.float16,
    torch.bfloat16: jnp.bfloat16,
    torch.float32: jnp.float32,
    torch.float64: jnp.float64,
    torch.complex64: jnp.complex64,
    torch.complex128: jnp.complex128,
    torch.bool: jnp.bool_,
    torch.int8: jnp.int8,
    torch.int16: jnp.int16,
    torch.int32: jnp.int32,
    torch.int64: jnp.int64,
    torch.uint8: jnp.uint8,
    torch.uint16: jnp.uint16,
    torch.uint32: jnp.uint32,
    torch.uint64: jnp.uint64,
    torch.float8_e4m3fn: jnp.float8_e4m3fn,
    torch.float8_e5m2: jnp.float8_e5m2,
}
JAX_TO_TORCH_DTYPE: dict[np.dtype, torch.dtype] = {
    np.dtype(v): k for k, v in TORCH_TO_JAX_DTYPE.items()
}

# DLPack has no portable encoding for these, so they travel through NumPy instead.
_NO_DLPACK = {torch.uint16, torch.uint32, torch.uint64, torch.float8_e4m3fn, torch.float8_e5m2}


def to_jax_dtype(dtype: torch.dtype) -> np.dtype:
    """The JAX dtype that holds a PyTorch dtype's values (32-bit where x64 is off, as JAX does)."""
    try:
        return jax.dtypes.canonicalize_dtype(TORCH_TO_JAX_DTYPE[dtype])
    except KeyError:
        raise TypeError(f"torch2jax: PyTorch dtype {dtype} has no JAX counterpart") from None


def to_torch_dtype(dtype: Any) -> torch.dtype:
    """The PyTorch dtype of a JAX/NumPy dtype."""
    try:
        return JAX_TO_TORCH_DTYPE[np.dtype(dtype)]
    except KeyError:
        raise TypeError(f"torch2jax: JAX dtype {dtype} has no PyTorch counterpart") from None


def tensor_to_array(tensor: torch.Tensor) -> jax.Array:
    """A concrete PyTorch tensor as a JAX array, sharing memory through DLPack where it can.

    DLPack refuses non-default layouts and lazily conjugated/negated tensors, so those are
    materialized first; 64-bit tensors are narrowed when ``jax_enable_x64`` is off.
    """
    tensor = tensor.detach()
    if tensor.layout is not torch.strided:
        tensor = tensor.to_dense()
    if tensor.device.type != "cpu" and jax.default_backend() == "cpu":
        tensor = tensor.cpu()
    tensor = tensor.resolve_conj().resolve_neg()
    target = to_jax_dtype(tensor.dtype)
    if target != np.dtype(TORCH_TO_JAX_DTYPE[tensor.dtype]) or tensor.dtype in _NO_DLPACK:
        # A tensor is a concrete value: convert it now even inside a jit trace, where the dtype
        # conversion would otherwise be staged into the trace and leak out of it through caches.
        with jax.ensure_compile_time_eval():
            return jnp.asarray(tensor.cpu().numpy(), dtype=target)
    if not tensor.is_contiguous():
        tensor = tensor.contiguous()
    return jax.dlpack.from_dlpack(tensor)


# Code under conversion that builds small tensors from Python data on every call (an empty
# tensor per GPT-2 layer, say) would pay one DLPack conversion (~150 us) each time; these are
# converted once per distinct value instead, into arrays of their own (never sharing the
# tensor's memory, which the code may later change in place).
_SMALL_CONSTANT_ELEMENTS = 64
_SMALL_CONSTANTS_KEPT = 1024
_small_constants: dict[tuple, jax.Array] = {}


def captured_tensor_to_array(tensor: torch.Tensor) -> jax.Array:
    """``tensor_to_array`` for a tensor that converted code captured as a constant."""
    if (
        tensor.numel() > _SMALL_CONSTANT_ELEMENTS
        or tensor.layout is not torch.strided
        or tensor.device.type != "cpu"
        or tensor.dtype in _NO_DLPACK
        or tensor.is_conj()
        or tensor.is_neg()
    ):
        return tensor_to_array(tensor)
    data = tensor.detach()
    raw = data.reshape(-1).contiguous().view(torch.uint8).numpy().tobytes()
    key = (data.dtype, tuple(data.shape), raw, jax.config.jax_enable_x64)
    array = _small_constants.get(key)
    if array is None:
        if len(_small_constants) >= _SMALL_CONSTANTS_KEPT:
            _small_constants.clear()
        array = _small_constants[key] = tensor_to_array(data.clone())
    return array


def array_to_tensor(array: Any) -> torch.Tensor:
    """A concrete JAX array as a PyTorch tensor, sharing memory through DLPack on CPU."""
    if isinstance(array, jax.core.Tracer):
        raise TypeError(
            "torch2jax: j2t got a traced JAX value; j2t converts concrete arrays. Inside jit/grad/"
            "vmap, call the PyTorch code through t2j instead."
        )
    array = jnp.asarray(array)
    if np.dtype(array.dtype) not in JAX_TO_TORCH_DTYPE:
        raise TypeError(f"torch2jax: JAX dtype {array.dtype} has no PyTorch counterpart")
    if to_torch_dtype(array.dtype) in _NO_DLPACK:
        return torch.from_numpy(np.array(array))
    try:
        return torch.from_dlpack(array)
    except (BufferError, RuntimeError, TypeError):
        return torch.from_numpy(np.array(array))
