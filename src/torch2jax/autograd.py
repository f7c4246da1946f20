"""PyTorch autograd constructs in converted code, mapped onto JAX's.

- A user's ``torch.autograd.Function`` keeps its own backward: ``Function.apply`` becomes a
  ``jax.custom_vjp`` whose forward and backward run the class's ``forward`` and ``backward`` on
  JAX values (straight-through estimators and hand-written gradients survive conversion).
- ``torch.utils.checkpoint.checkpoint`` (both ``use_reentrant`` modes, ``checkpoint_sequential``)
  becomes ``jax.checkpoint``: the same gradients, with the activations recomputed in the backward
  pass.
- ``requires_grad_(False)`` (or ``t.requires_grad = False``) detaches the tensor from then on.

``torch.no_grad``, ``torch.enable_grad``, ``torch.inference_mode`` and ``.detach()`` need nothing
here: every result computed while grad mode is off is wrapped in ``jax.lax.stop_gradient``.

PyTorch's own ``Function.apply`` and checkpoint implementation cannot run under the
functionalization that conversion uses, so both are replaced while (and only while) a conversion
runs, and only for the thread that runs it; other callers get PyTorch's own.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch
import torch.utils._pytree as torch_pytree
import torch.utils.checkpoint

from torch2jax.torchish import _PYTHON_FACING, call_jax, current_conversion, jax_value

_ORIGINAL_APPLY = torch.autograd.Function.__dict__["apply"]
_ORIGINAL_CHECKPOINT_IMPL = torch.utils.checkpoint._checkpoint_impl
_patch_lock = threading.Lock()
_patch_depth = 0


def _converting() -> bool:
    from torch2jax import torchish

    return getattr(torchish._state, "conversion", None) is not None


def _run_pytorch(fn: Callable[..., Any], arrays: tuple, rng: Any) -> Any:
    """Run PyTorch code ``fn(*tensors)`` on JAX arrays (of a JAX transformation's trace, say);
    JAX results.

    Inside a running conversion, ``fn`` runs in it, on tensors that the running
    functionalization knows (a nested ``functionalize`` would mishandle dtype casts), drawing
    randomness from ``rng``. Outside one (a backward pass JAX runs later), it gets its own.
    """
    if not _converting():
        from torch2jax.functional import _run_converted

        return _run_converted(fn, arrays, {}, rng)[0]
    conversion = current_conversion()
    tensors = call_jax(lambda: list(arrays), (), {})
    outer_rng, conversion.rng = conversion.rng, rng
    try:
        out = fn(*tensors)
    finally:
        conversion.rng = outer_rng
    return torch_pytree.tree_map_only(torch.Tensor, jax_value, out)


def _call_outside_dispatch(fn: Callable[[list[Any], Any], Any], tensors: list, key: Any) -> Any:
    """``fn(arrays, key)`` on the JAX values of ``tensors``, its results back as tensors.

    ``fn`` is a JAX function (a ``custom_vjp`` or ``jax.checkpoint``) whose body runs PyTorch code
    (``_run_pytorch``), so it is traced here, at the level of the user's code where the running
    functionalization is live, and not inside the dispatch of a ``call_jax`` operation.
    """
    arrays = [jax_value(tensor) for tensor in tensors]
    outputs = fn(arrays, key)
    return call_jax(lambda: outputs, (), {})


def _split_key(purpose: str) -> Any:
    """A key for PyTorch code run as one JAX function; None where the run has no key."""
    conversion = current_conversion()
    return conversion.next_key(purpose) if conversion.rng is not None else None


# --------------------------------------------------------------------------------------------------
# torch.autograd.Function -> jax.custom_vjp


class _FunctionContext:
    """The ``ctx`` a custom Function's forward and backward see (``torch.autograd.function``'s
    ``FunctionCtx`` API). Tensors it holds travel from forward to backward as JAX residuals."""

    def __init__(self, needs_input_grad: tuple[bool, ...]):
        self.needs_input_grad = needs_input_grad
        self.materialize_grads = True
        self._saved: tuple = ()
        self._non_differentiable: tuple = ()

    def save_for_backward(self, *tensors: Any) -> None:
        self._saved = tensors

    def save_for_forward(self, *tensors: Any) -> None:
        pass

    @property
    def saved_tensors(self) -> tuple:
        return tuple(self._saved)

    def mark_dirty(self, *tensors: Any) -> None:
        pass

    def mark_non_differentiable(self, *tensors: Any) -> None:
        self._non_differentiable = tensors

    def set_materialize_grads(self, value: bool) -> None:
        self.materialize_grads = value

    def take_tensors(self) -> list[Any]:
        """Remove every tensor the forward left on ``ctx``; ``restore_tensors`` puts them back."""
        tensors: list[Any] = []
        self._layout: dict[str, Any] = {}
        for name, value in list(vars(self).items()):
            if name == "_layout":
                continue
            leaves, spec = torch_pytree.tree_flatten(value)
            positions = [i for i, leaf in enumerate(leaves) if isinstance(leaf, torch.Tensor)]
            if positions:
                self._layout[name] = (leaves, spec, positions, len(tensors))
                tensors.extend(leaves[i] for i in positions)
                setattr(self, name, None)
        return tensors

    def restore_tensors(self, tensors: list[Any]) -> None:
        for name, (leaves, spec, positions, start) in self._layout.items():
            filled = list(leaves)
            for offset, position in enumerate(positions):
                filled[position] = tensors[start + offset]
            setattr(self, name, torch_pytree.tree_unflatten(filled, spec))


def _uses_setup_context(cls: type) -> bool:
    return cls.setup_context is not torch.autograd.function._SingleLevelFunction.setup_context


def _zero_cotangent(primal: Any) -> Any:
    if jnp.issubdtype(primal.dtype, jnp.inexact):
        return jnp.zeros(primal.shape, primal.dtype)
    return np.zeros(primal.shape, jax.dtypes.float0)


def _apply_custom_function(cls: type, args: tuple, kwargs: dict) -> Any:
    positions = [i for i, arg in enumerate(args) if isinstance(arg, torch.Tensor)]
    needs_input_grad = tuple(
        isinstance(arg, torch.Tensor) and (arg.is_floating_point() or arg.is_complex())
        for arg in args
    )
    key = _split_key(f"{cls.__name__}.apply")
    traced: dict[str, Any] = {}  # Python-side state of the forward trace, read by the backward

    def with_tensors(tensors: tuple) -> list[Any]:
        filled = list(args)
        for position, tensor in zip(positions, tensors, strict=True):
            filled[position] = tensor
        return filled

    def run_forward(arrays: tuple, key: Any) -> tuple[Any, list[Any]]:
        ctx = _FunctionContext(needs_input_grad)

        def forward(*tensors: torch.Tensor) -> Any:
            filled = with_tensors(tensors)
            # PyTorch runs a Function's forward with grad mode off.
            with torch.no_grad():
                if _uses_setup_context(cls):
                    out = cls.forward(*filled, **kwargs)
                    cls.setup_context(ctx, tuple(filled), out)
                else:
                    out = cls.forward(ctx, *filled, **kwargs)
            return out, ctx.take_tensors()

        out, residuals = _run_pytorch(forward, arrays, key)
        traced["ctx"] = ctx
        return out, residuals

    def run_backward(residuals: list[Any], cotangents: Any, key: Any) -> list[Any]:
        ctx = traced["ctx"]
        grad_leaves, grad_def = jax.tree_util.tree_flatten(cotangents)

        def backward(*tensors: torch.Tensor) -> Any:
            ctx.restore_tensors(list(tensors[len(grad_leaves) :]))
            grads = jax.tree_util.tree_unflatten(grad_def, list(tensors[: len(grad_leaves)]))
            grads = grads if isinstance(grads, tuple) else (grads,)
            result = cls.backward(ctx, *grads)
            result = result if isinstance(result, tuple) else (result,)
            return [result[p] if p < len(result) else None for p in positions]

        return _run_pytorch(backward, (*grad_leaves, *residuals), key)

    def on_arrays(arrays: list[Any], key: Any) -> Any:
        @jax.custom_vjp
        def function(arrays: list[Any], key: Any) -> Any:
            return run_forward(arrays, key)[0]

        def function_fwd(arrays: list[Any], key: Any) -> tuple[Any, Any]:
            out, residuals = run_forward(arrays, key)
            return out, (residuals, arrays, out, key)

        def function_bwd(saved: Any, cotangents: Any) -> tuple[Any, None]:
            residuals, arrays, out, key = saved
            # Integer outputs get float0 cotangents from JAX; PyTorch's backward sees zeros.
            cotangents = jax.tree_util.tree_map(
                lambda c, o: jnp.zeros(o.shape, o.dtype) if c.dtype == jax.dtypes.float0 else c,
                cotangents,
                out,
            )
            backward_key = None if key is None else jax.random.fold_in(key, 1)
            grads = run_backward(residuals, cotangents, backward_key)
            grads = [
                _zero_cotangent(a) if g is None or not jnp.issubdtype(a.dtype, jnp.inexact) else g
                for g, a in zip(grads, arrays, strict=True)
            ]
            return grads, None

        function.defvjp(function_fwd, function_bwd)
        return function(list(arrays), key)

    return _call_outside_dispatch(on_arrays, [args[p] for p in positions], key)


def _apply(cls: type, *args: Any, **kwargs: Any) -> Any:
    if not _converting():
        return _ORIGINAL_APPLY.__get__(None, cls)(*args, **kwargs)
    return _apply_custom_function(cls, args, kwargs)


# --------------------------------------------------------------------------------------------------
# torch.utils.checkpoint -> jax.checkpoint


def _checkpoint_impl(function: Callable[..., Any], args: tuple, kwargs: dict, **options: Any):
    if not _converting():
        return _ORIGINAL_CHECKPOINT_IMPL(function, args, kwargs, **options)
    leaves, spec = torch_pytree.tree_flatten((args, kwargs or {}))
    positions = [i for i, leaf in enumerate(leaves) if isinstance(leaf, torch.Tensor)]
    key = _split_key("torch.utils.checkpoint.checkpoint")

    def run(arrays: list[Any], key: Any) -> Any:
        def body(*tensors: torch.Tensor) -> Any:
            filled = list(leaves)
            for position, tensor in zip(positions, tensors, strict=True):
                filled[position] = tensor
            call_args, call_kwargs = torch_pytree.tree_unflatten(filled, spec)
            return function(*call_args, **call_kwargs)

        return _run_pytorch(body, tuple(arrays), key)

    return _call_outside_dispatch(jax.checkpoint(run), [leaves[p] for p in positions], key)


# --------------------------------------------------------------------------------------------------
# requires_grad_(False)


def _requires_grad_(tensor: torch.Tensor, requires_grad: bool = True) -> torch.Tensor:
    # JAX decides what to differentiate from the outside, so turning it on changes nothing;
    # turning it off stops gradients through this tensor from here on, as in PyTorch.
    if not requires_grad:
        with torch.no_grad():
            tensor.copy_(tensor.detach())
    return tensor


def _set_requires_grad(tensor: torch.Tensor, requires_grad: bool) -> None:
    _requires_grad_(tensor, requires_grad)


_PYTHON_FACING[torch.Tensor.requires_grad_] = _requires_grad_
_PYTHON_FACING[torch.Tensor.requires_grad.__set__] = _set_requires_grad


@contextlib.contextmanager
def autograd_in_conversion() -> Iterator[None]:
    """Route ``Function.apply`` and ``checkpoint`` to their JAX forms while conversions run."""
    global _patch_depth
    with _patch_lock:
        if _patch_depth == 0:
            torch.autograd.Function.apply = classmethod(_apply)
            torch.utils.checkpoint._checkpoint_impl = _checkpoint_impl
        _patch_depth += 1
    try:
        yield
    finally:
        with _patch_lock:
            _patch_depth -= 1
            if _patch_depth == 0:
                torch.autograd.Function.apply = _ORIGINAL_APPLY
                torch.utils.checkpoint._checkpoint_impl = _ORIGINAL_CHECKPOINT_IMPL
