"""j2t of JAX functions: JAX code called from PyTorch, differentiable with ``torch.autograd``.

Outside a conversion the JAX function runs jitted on the tensors' memory (DLPack, zero-copy on CPU)
and, when a tensor argument requires grad, becomes one PyTorch autograd node whose backward is
``jax.vjp``. Double backward (``create_graph=True``) differentiates the VJP itself, again through
JAX, so higher-order derivatives work too. Inside code that ``t2j`` converts, the JAX function is
inlined into the trace instead (``call_jax``): no round trip through PyTorch.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch

from torch2jax import torchish
from torch2jax.convert import array_to_tensor, tensor_to_array
from torch2jax.torchish import call_jax


class _Signature:
    """How one call's arguments look: their tree structure and the non-tensor leaves (static)."""

    def __init__(self, treedef: Any, tensor_positions: tuple[int, ...], static: tuple):
        self.treedef = treedef
        self.tensor_positions = tensor_positions
        self.static = static  # the leaves that are not tensors, in order
        self._key = (treedef, tensor_positions, static)

    def __hash__(self) -> int:
        return hash(self._key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Signature) and self._key == other._key

    def rebuild(self, arrays: tuple) -> tuple[tuple, dict]:
        arrays_iter, static_iter = iter(arrays), iter(self.static)
        count = len(self.tensor_positions) + len(self.static)
        positions = set(self.tensor_positions)
        leaves = [next(arrays_iter) if i in positions else next(static_iter) for i in range(count)]
        return jax.tree_util.tree_unflatten(self.treedef, leaves)


def _signature(args: tuple, kwargs: dict) -> tuple[_Signature, list[torch.Tensor]]:
    leaves, treedef = jax.tree_util.tree_flatten((args, kwargs))
    tensor_positions = tuple(i for i, leaf in enumerate(leaves) if isinstance(leaf, torch.Tensor))
    static = tuple(leaf for leaf in leaves if not isinstance(leaf, torch.Tensor))
    for leaf in static:
        if not isinstance(leaf, Hashable) or isinstance(leaf, (jax.Array, np.ndarray)):
            raise TypeError(
                f"torch2jax: a function from j2t takes tensors and hashable Python values (they "
                f"become static arguments of jax.jit); got {type(leaf).__name__}. Pass arrays as "
                f"torch tensors."
            )
    signature = _Signature(treedef, tensor_positions, static)
    return signature, [leaves[i] for i in tensor_positions]


def _conversion_running() -> bool:
    return getattr(torchish._state, "conversion", None) is not None


def _differentiable(tensor: torch.Tensor) -> bool:
    return tensor.is_floating_point() or tensor.is_complex()


def _is_float(dtype: Any) -> bool:
    return jnp.issubdtype(dtype, jnp.inexact)


def _outputs_to_tensors(outputs: list[Any], inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    """JAX outputs as tensors sharing their memory; an output that is an input's buffer is copied,
    so that the result is a fresh tensor as PyTorch functions return."""
    input_pointers = {t.data_ptr() for t in inputs if t.device.type == "cpu"}
    tensors = [array_to_tensor(out) for out in outputs]
    return [t.clone() if t.data_ptr() in input_pointers else t for t in tensors]


def _cotangents(grads: tuple, outputs: list[Any]) -> list[Any]:
    """PyTorch's output gradients as JAX cotangents; integer outputs take float0 zeros."""
    return [
        tensor_to_array(grad) if _is_float(out.dtype) else np.zeros(out.shape, jax.dtypes.float0)
        for grad, out in zip(grads, outputs, strict=True)
    ]


@jax.jit
def _apply_vjp(vjp: Any, cotangents: list[Any]) -> Any:
    return vjp(cotangents)


class _JaxFunction(torch.autograd.Function):
    """A jitted JAX computation as one PyTorch autograd node; backward is ``jax.vjp``."""

    @staticmethod
    def forward(ctx, compiled: _Compiled, signature: _Signature, *tensors: torch.Tensor):
        # One compiled forward returns the outputs and the VJP's residuals (a pytree).
        outputs, vjp = compiled.forward(signature, *[tensor_to_array(t) for t in tensors])
        results = _outputs_to_tensors(outputs, list(tensors))
        ctx.compiled, ctx.signature, ctx.vjp = compiled, signature, vjp
        ctx.output_avals = [jax.ShapeDtypeStruct(o.shape, o.dtype) for o in outputs]
        ctx.mark_non_differentiable(*[r for r in results if not _differentiable(r)])
        # The tensors share memory with arrays that the VJP may keep as residuals: saving them makes
        # PyTorch's version counters catch an in-place change before backward reads stale values.
        ctx.save_for_backward(*tensors, *results)
        return tuple(results)

    @staticmethod
    def backward(ctx, *grads: torch.Tensor):
        saved = ctx.saved_tensors
        inputs = saved[: len(saved) - len(ctx.output_avals)]
        if torch.is_grad_enabled():
            # create_graph=True: the VJP itself becomes a differentiable JAX call.
            input_grads = ctx.compiled.differentiable_vjp(ctx.signature, ctx.output_avals)(
                inputs, grads
            )
        else:
            cotangents = _cotangents(grads, ctx.output_avals)
            input_grads = [
                None if g.dtype == jax.dtypes.float0 else array_to_tensor(g)
                for g in _apply_vjp(ctx.vjp, cotangents)
            ]
        return (
            None,
            None,
            *[
                grad if _differentiable(tensor) else None
                for grad, tensor in zip(input_grads, inputs, strict=True)
            ],
        )


def _differentiable_vjp(primal: Callable[..., list[Any]], output_avals: list[Any]) -> Callable:
    def vjp(primals: tuple, grads: tuple) -> list[Any]:
        _, pullback = jax.vjp(primal, *primals)
        gradients = pullback(_cotangents_traced(grads, output_avals))
        # Integer inputs have float0 gradients, which PyTorch has no dtype for; they are dropped.
        return [
            jnp.zeros(g.shape, jnp.float32) if g.dtype == jax.dtypes.float0 else g
            for g in gradients
        ]

    return jax_function_to_torch(vjp)


def _cotangents_traced(grads: tuple, output_avals: list[Any]) -> list[Any]:
    return [
        grad if _is_float(aval.dtype) else np.zeros(aval.shape, jax.dtypes.float0)
        for grad, aval in zip(grads, output_avals, strict=True)
    ]


class _Compiled:
    """A JAX function's jitted forms, per call signature: plain, and with its VJP."""

    def __init__(self, fn: Callable[..., Any]):
        self.fn = fn
        self.output_trees: dict[_Signature, Any] = {}
        self.call = jax.jit(self.leaves, static_argnums=0)
        self.forward = jax.jit(self._with_vjp, static_argnums=0)
        self.differentiable_vjps: dict[tuple, Callable[..., Any]] = {}

    def leaves(self, signature: _Signature, *arrays: Any) -> list[Any]:
        call_args, call_kwargs = signature.rebuild(arrays)
        leaves, tree = jax.tree_util.tree_flatten(self.fn(*call_args, **call_kwargs))
        self.output_trees[signature] = tree
        return leaves

    def _with_vjp(self, signature: _Signature, *arrays: Any) -> tuple[list[Any], Any]:
        return jax.vjp(functools.partial(self.leaves, signature), *arrays)

    def differentiable_vjp(self, signature: _Signature, output_avals: list) -> Callable[..., Any]:
        """The VJP as a function of torch tensors ``(primals, output_grads)``, itself from j2t, so
        PyTorch can differentiate it again (double backward)."""
        key = (signature, tuple((a.shape, a.dtype) for a in output_avals))
        if key not in self.differentiable_vjps:
            primal = functools.partial(self.leaves, signature)
            self.differentiable_vjps[key] = _differentiable_vjp(primal, output_avals)
        return self.differentiable_vjps[key]


def jax_function_to_torch(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (JAX arrays in and out, any pytree) as a function of torch tensors."""
    compiled = _Compiled(fn)

    @functools.wraps(fn)
    def torch_function(*args: Any, **kwargs: Any) -> Any:
        if _conversion_running():
            # Inside t2j: inline the JAX function into the trace instead of round-tripping.
            return call_jax(fn, args, kwargs)
        signature, tensors = _signature(args, kwargs)
        if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
            results = _JaxFunction.apply(compiled, signature, *tensors)
        else:
            outputs = compiled.call(signature, *[tensor_to_array(t) for t in tensors])
            results = _outputs_to_tensors(outputs, tensors)
        return jax.tree_util.tree_unflatten(compiled.output_trees[signature], list(results))

    return torch_function
