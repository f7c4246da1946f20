"""`Torchish`, a PyTorch tensor that holds a JAX value, and the modes that run PyTorch code on it.

Every ATen operation PyTorch's dispatcher produces on a Torchish arrives in ``dispatch`` and runs
its JAX lowering. While a conversion runs (``converting``), a dispatch mode sends factory calls and
operations on captured plain tensors through ``dispatch`` too, and a function mode sees PyTorch API
calls before they decompose: for `@implements` API overrides, the Python-facing methods
(``tolist``, ``numpy``) and error messages that name the user's call.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import threading
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import torch
import torch._decomp
import torch.utils._pytree as torch_pytree
from jax._src import core as jax_core
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

from torch2jax import registry
from torch2jax.convert import captured_tensor_to_array, to_torch_dtype
from torch2jax.eager_ops import call_lowering, refuse_tracing
from torch2jax.errors import (
    CapturedMutationWarning,
    ConcretizationError,
    MissingRNGError,
    Torch2JaxError,
    UnsupportedOperationError,
    api_name,
    captured_mutation_message,
    warn_at_user_line,
)

aten = torch.ops.aten

# One opaque operation carries any JAX computation through PyTorch's dispatcher (and through
# functionalization, which treats it as a functional op): API-level overrides, JAX functions called
# from converted code, custom autograd functions. `handle` indexes the running conversion's table.
_library = torch.library.Library("torch2jax", "DEF")
_library.define("call(Tensor[] inputs, int handle) -> Tensor[]")
jax_call_op = torch.ops.torch2jax.call.default


# Per-value work on every operation's result is kept to dictionary lookups (dispatch runs once per
# ATen operation while tracing): JAX dtype -> PyTorch dtype, resolved once per dtype.
_TORCH_DTYPES: dict[Any, torch.dtype] = {}
_CPU = torch.device("cpu")


class Torchish(torch.Tensor):
    """A ``torch.Tensor`` whose value is a JAX array (or a JAX tracer, inside jit/grad/vmap)."""

    value: Any

    @staticmethod
    def __new__(cls, value: Any, aval: Any = None) -> Torchish:
        if aval is None:
            aval = value.aval
        dtype = _TORCH_DTYPES.get(aval.dtype)
        if dtype is None:
            dtype = _TORCH_DTYPES[aval.dtype] = to_torch_dtype(aval.dtype)
        try:
            # Positional: PyTorch's argument parser matches keywords by name, a cost on every
            # operation's every result. (size, strides, storage_offset, memory_format, dtype,
            # layout, device)
            tensor = torch.Tensor._make_wrapper_subclass(
                cls, aval.shape, None, None, None, dtype, torch.strided, _CPU
            )
        except TypeError:
            if all(isinstance(d, int) for d in aval.shape):
                raise
            raise Torch2JaxError(
                f"torch2jax: PyTorch code needs concrete shapes, got symbolic shape {aval.shape} "
                "(jax.export.symbolic_shape). For a symbolic batch size, export "
                "torch2jax.batch_polymorphic(converted) instead."
            ) from None
        tensor.value = value
        return tensor

    __torch_function__ = torch._C._disabled_torch_function_impl

    @classmethod
    def __torch_dispatch__(cls, func, types, args=(), kwargs=None):
        return dispatch(func, args, kwargs or {})

    def __repr__(self, *, tensor_contents=None) -> str:
        return f"Torchish({self.value!r})"


# --------------------------------------------------------------------------------------------------
# The running conversion


class Conversion:
    """State of one run of converted code: its PRNG key, captured constants and JAX calls."""

    def __init__(self, rng: Any = None):
        self.rng = rng
        self.constants: dict[int, tuple[torch.Tensor, Any]] = {}
        self.mutated_constants: set[int] = set()
        self.jax_calls: list[Callable[[list[Any]], list[Any]]] = []
        self.api_calls: list[Any] = []

    def constant(self, tensor: torch.Tensor) -> Any:
        """A plain tensor that the code captured, as a JAX array (converted once per run)."""
        entry = self.constants.get(id(tensor))
        if entry is None:
            # Reading the tensor is PyTorch's business, not the converted code's: without the
            # function mode, a dozen tensor methods cost a dozen mode round trips.
            with torch._C.DisableTorchFunction():
                array = captured_tensor_to_array(tensor)
            entry = self.constants[id(tensor)] = (tensor, array)
        return entry[1]

    def rebind_constant(self, tensor: torch.Tensor, value: Any) -> None:
        """An in-place change of a captured plain tensor: the rest of this run reads ``value``;
        the tensor itself is left as it is (with one ``CapturedMutationWarning`` per run)."""
        if not self.mutated_constants:
            message = captured_mutation_message(self.current_api_call())
            warn_at_user_line(message, CapturedMutationWarning)
        self.mutated_constants.add(id(tensor))
        self.constants[id(tensor)] = (tensor, value)

    def next_key(self, op_name: str) -> Any:
        """A fresh PRNG key for one random operation, split off the run's key."""
        refuse_tracing()  # a draw inside an eager op's compilation would trace the key
        if self.rng is None:
            raise MissingRNGError(op_name)
        self.rng, key = jax.random.split(self.rng)
        return key

    def current_api_call(self) -> str | None:
        if not self.api_calls:
            return None
        return api_name(self.api_calls[0])


_state = threading.local()


def current_conversion() -> Conversion:
    conversion = getattr(_state, "conversion", None)
    if conversion is None:
        # Torchish values met outside t2j (a user playing with one) still run; they have no key.
        conversion = Conversion()
    return conversion


# --------------------------------------------------------------------------------------------------
# Dispatch: ATen operation -> JAX lowering


# Argument types that to_jax passes on as they are, recognised by exact type first: most of an
# operation's arguments are these or lists of them (sizes, strides), and an isinstance check
# against torch.Tensor's metaclass costs more than the rest of the conversion.
_PLAIN_TYPES = frozenset(
    {
        int,
        float,
        bool,
        complex,
        str,
        type(None),
        torch.dtype,
        torch.device,
        torch.layout,
        torch.memory_format,
    }
)


def to_jax(x: Any) -> Any:
    """An operation's argument with tensors replaced by JAX arrays (lists of tensors too)."""
    cls = type(x)
    if cls is Torchish:
        return x.value
    if cls in _PLAIN_TYPES:
        return x
    if cls is list or cls is tuple:
        if _PLAIN_TYPES.issuperset(map(type, x)):
            return x
        return cls([to_jax(e) for e in x])
    if isinstance(x, Torchish):
        return x.value
    if isinstance(x, torch.Tensor):
        return current_conversion().constant(x)
    if isinstance(x, (list, tuple)) and any(isinstance(e, (torch.Tensor, list, tuple)) for e in x):
        return type(x)(to_jax(e) for e in x)
    return x


_ARRAY_TYPES = (jax.core.Tracer, jax.Array)  # tracers first: what a trace meets


def to_torchish(x: Any, stop_gradient: bool = False) -> Any:
    """A lowering's result with JAX arrays wrapped as Torchish (weak types made strong)."""
    if isinstance(x, _ARRAY_TYPES):
        aval = x.aval  # a tracer's own .weak_type goes through a slow __getattr__
        if aval.weak_type:
            x = jax.lax.convert_element_type(x, x.dtype)  # strong: same dtype, weak_type False
            aval = x.aval
        if stop_gradient:
            x = jax.lax.stop_gradient(x)
        return Torchish(x, aval)
    if isinstance(x, (list, tuple)):
        return type(x)([to_torchish(e, stop_gradient) for e in x])
    return x


def dispatch(func: torch._ops.OpOverload, args: tuple, kwargs: dict) -> Any:
    special = _SPECIAL_OPS.get(id(func))
    if special is not None:
        return special(*args, **kwargs)
    _, lowering, view_inverse = registry.dispatch_entry(func)
    if lowering is None:
        if func._schema.is_mutable and func._schema.name.endswith("_"):
            return _inplace_via_functional(func, args, kwargs)
        return _decompose(func, args, kwargs)
    # Most ATen calls have no keyword arguments: pass the (empty) dict on instead of rebuilding it.
    jax_kwargs = {k: to_jax(v) for k, v in kwargs.items()} if kwargs else kwargs
    result = call_lowering(lowering, tuple(map(to_jax, args)), jax_kwargs)
    result = to_torchish(result, not torch.is_grad_enabled())
    if view_inverse is not None and isinstance(args[0], Torchish):
        result.view_of = (args[0], view_inverse, args[1:], kwargs)
    return result


def _decompose(func: torch._ops.OpOverload, args: tuple, kwargs: dict) -> Any:
    decomposition = torch._decomp.decomposition_table.get(func)
    with ConversionDispatchMode():
        if decomposition is not None:
            return decomposition(*args, **kwargs)
        result = func.decompose(*args, **kwargs)
    if result is not NotImplemented:
        return result
    raise UnsupportedOperationError(
        str(func), current_conversion().current_api_call(), func._schema
    )


def _inplace_via_functional(func: torch._ops.OpOverload, args: tuple, kwargs: dict) -> Any:
    """``x.op_(...)`` below functionalization (inside a decomposition): run ``op`` and rebind x."""
    functional_packet = getattr(aten, func._schema.name.split("::")[1][:-1], None)
    functional = getattr(functional_packet, func._overloadname, None) if functional_packet else None
    if functional is not None:
        result = dispatch(functional, args, kwargs)
    elif functional_packet is not None:
        # Overload names differ (transpose_.default vs transpose.int): let PyTorch pick one.
        with ConversionDispatchMode():
            result = functional_packet(*args, **kwargs)
    else:
        raise UnsupportedOperationError(
            str(func), current_conversion().current_api_call(), func._schema
        )
    target, value = args[0], to_jax(result)
    if not isinstance(target, Torchish):
        current_conversion().rebind_constant(target, value)
        return target
    if tuple(value.shape) != tuple(target.shape):
        # An in-place view op (squeeze_, unsqueeze_, t_, ...; C++ composites such as matmul use
        # them) changes the tensor's own shape: apply that metadata-only change to the wrapper
        # itself, below this dispatch, then rebind its value.
        with torch._C._DisableTorchDispatch():
            func(*args, **kwargs)
        target.value = jnp.asarray(value, target.value.dtype)
        return target
    _assign(target, result)
    return target


def _assign(target: torch.Tensor, source: Any) -> None:
    value = to_jax(source)
    if not isinstance(target, Torchish):
        shape, dtype = tuple(target.shape), to_jax(target).dtype
        current_conversion().rebind_constant(target, jnp.broadcast_to(value.astype(dtype), shape))
        return
    dtype = target.value.dtype
    target.value = jnp.broadcast_to(jnp.asarray(value, dtype), target.value.shape)
    _write_back_to_base(target)


def _write_back_to_base(view: Torchish) -> None:
    """A view made below functionalization (``out.slice(...)`` in a C++ composite kernel) was
    changed in place: write its new values into its base, as PyTorch's shared storage would."""
    view_of = getattr(view, "view_of", None)
    if view_of is None:
        return
    base, inverse, args, kwargs = view_of
    _assign(base, inverse(base.value, view.value, *to_jax(args), **kwargs))


def _copy_(target: Torchish, source: Any, non_blocking: bool = False) -> Torchish:
    _assign(target, source)
    return target


def _local_scalar_dense(x: Any) -> Any:
    value = to_jax(x)
    if isinstance(value, jax.core.Tracer):
        api = current_conversion().current_api_call()
        raise ConcretizationError(api or "torch.Tensor.item")
    return value.item()


def _run_jax_call(inputs: list, handle: int) -> list:
    outputs = current_conversion().jax_calls[handle]([to_jax(t) for t in inputs])
    return to_torchish(list(outputs), stop_gradient=not torch.is_grad_enabled())


# Operations dispatch handles itself, keyed by id(overload) like registry.dispatch_entry.
_SPECIAL_OPS: dict[int, Callable[..., Any]] = {
    id(aten.copy_.default): _copy_,
    id(aten._local_scalar_dense.default): _local_scalar_dense,
    id(jax_call_op): _run_jax_call,
}


def call_jax(fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """Run ``fn`` (JAX code) on the JAX values of the tensors in ``args``/``kwargs``.

    The call travels through PyTorch's dispatcher as one opaque ``torch2jax::call`` operation, so
    functionalization and the modes see an ordinary functional op; results come back as tensors in
    ``fn``'s output structure (non-array leaves as they are).
    """
    leaves, spec = torch_pytree.tree_flatten((args, kwargs))
    tensor_positions = [i for i, leaf in enumerate(leaves) if isinstance(leaf, torch.Tensor)]
    output_structure: list[Any] = []

    def run(arrays: list[Any]) -> list[Any]:
        filled = list(leaves)
        for position, array in zip(tensor_positions, arrays, strict=True):
            filled[position] = array
        call_args, call_kwargs = torch_pytree.tree_unflatten(filled, spec)
        out_leaves, out_def = jax.tree_util.tree_flatten(fn(*call_args, **call_kwargs))
        is_array = [isinstance(leaf, (jax.Array, jax.core.Tracer)) for leaf in out_leaves]
        output_structure.append((out_leaves, out_def, is_array))
        return [leaf for leaf, array in zip(out_leaves, is_array, strict=True) if array]

    conversion = current_conversion()
    conversion.jax_calls.append(run)
    handle = len(conversion.jax_calls) - 1
    tensors = jax_call_op([leaves[i] for i in tensor_positions], handle)
    out_leaves, out_def, is_array = output_structure[0]
    tensor_iter = iter(tensors)
    merged = [
        next(tensor_iter) if array else leaf
        for leaf, array in zip(out_leaves, is_array, strict=True)
    ]
    return jax.tree_util.tree_unflatten(out_def, merged)


def jax_value(tensor: torch.Tensor) -> Any:
    """The JAX value of any tensor met in converted code (functional wrappers included)."""
    if isinstance(tensor, Torchish):
        return tensor.value
    captured: list[Any] = []
    call_jax(lambda x: captured.append(x) or (), (tensor,), {})
    return captured[0]


# --------------------------------------------------------------------------------------------------
# Modes


class ConversionDispatchMode(TorchDispatchMode):
    """Sends every ATen operation, factory calls and captured plain tensors included, to JAX."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # PyTorch otherwise wraps __torch_dispatch__ in a Dynamo-disabling frame hook, a cost on
        # every ATen operation; converted code never runs under torch.compile.
        return False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return dispatch(func, args, kwargs or {})


def _tolist(tensor: torch.Tensor) -> Any:
    value = jax_value(tensor)
    if isinstance(value, jax.core.Tracer):
        raise ConcretizationError("torch.Tensor.tolist")
    return value.tolist()


def _numpy(tensor: torch.Tensor, *, force: bool = False) -> Any:
    value = jax_value(tensor)
    if isinstance(value, jax.core.Tracer):
        raise ConcretizationError("torch.Tensor.numpy")
    import numpy as np

    return np.asarray(value)


_PYTHON_FACING: dict[Any, Callable[..., Any]] = {
    torch.Tensor.tolist: _tolist,
    torch.Tensor.numpy: _numpy,
}


class ConversionFunctionMode(TorchFunctionMode):
    """Sees PyTorch API calls before they decompose: overrides, Python-facing methods, names."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        override = registry.api_overrides.get(func)
        if override is not None:
            return call_jax(override, args, kwargs)
        python_facing = _PYTHON_FACING.get(func)
        if python_facing is not None:
            return python_facing(*args, **kwargs)
        api_calls = current_conversion().api_calls
        api_calls.append(func)
        try:
            if args and _is_in_place(func):
                return _run_in_place(func, args, kwargs)
            return func(*args, **kwargs)
        finally:
            api_calls.pop()


def copy_into(target: torch.Tensor, source: torch.Tensor) -> None:
    """``target.copy_(source)`` for code that runs outside the function mode, a captured plain
    ``target`` included (rebound for the rest of the run)."""
    witness = _functional_leaf((source,), {}) if _is_captured(target) else None
    if witness is not None:
        _mutate_captured(torch.Tensor.copy_, (target, source), {}, witness)
    else:
        target.copy_(source)


def _run_in_place(func: Any, args: tuple, kwargs: dict) -> Any:
    """An in-place method (``add_``, ``copy_``, ``x[i] = v``) where PyTorch's own path would go
    wrong: on a captured plain tensor with a functionalized value among its arguments (which
    functionalization refuses), or under ``torch.no_grad`` (which would cut the gradient)."""
    target = args[0]
    if _is_captured(target):
        witness = _functional_leaf(args[1:], kwargs)
        if witness is not None:
            return _mutate_captured(func, args, kwargs, witness)
    elif (
        not torch.is_grad_enabled()
        and func.__name__ not in _GRADIENT_FLAG_METHODS
        and isinstance(target, torch.Tensor)
        and (target.is_floating_point() or target.is_complex())
    ):
        return _in_place_keeping_gradient(func, args, kwargs)
    return func(*args, **kwargs)


def _is_captured(x: Any) -> bool:
    return (
        isinstance(x, torch.Tensor)
        and not isinstance(x, Torchish)
        and not torch._is_functional_tensor(x)
    )


@functools.cache  # asked on every API call the converted code makes
def _is_in_place(func: Any) -> bool:
    name = getattr(func, "__name__", "")
    return (name.endswith("_") and not name.endswith("__")) or name in _IN_PLACE_DUNDERS


# In-place by name, but they change whether a tensor is differentiated, not its value.
_GRADIENT_FLAG_METHODS = {"detach_", "requires_grad_"}


def _in_place_keeping_gradient(func: Any, args: tuple, kwargs: dict) -> Any:
    """An in-place op under ``torch.no_grad`` (``w.clamp_(...)``, ``x[mask] = 0``): in PyTorch the
    tensor keeps its place in the autograd graph, so the gradient still reaches what it was
    computed from, while the op's own result would carry none (``stop_gradient``)."""
    from torch2jax.ops._gradients import value_with_gradient_of  # ops import this module

    target = args[0]
    with torch.enable_grad():
        before = target.clone()
    result = func(*args, **kwargs)
    with torch.enable_grad():
        target.copy_(call_jax(value_with_gradient_of, (before, target), {}))
    return result


def _functional_leaf(args: tuple, kwargs: dict) -> torch.Tensor | None:
    """The first functionalized tensor among ``args`` and ``kwargs``, if any."""
    for leaf in torch_pytree.tree_leaves((args, kwargs)):
        if isinstance(leaf, torch.Tensor) and torch._is_functional_tensor(leaf):
            return leaf
    return None


_IN_PLACE_DUNDERS = {
    "__setitem__",
    "__iadd__",
    "__isub__",
    "__imul__",
    "__itruediv__",
    "__ifloordiv__",
    "__imod__",
    "__ipow__",
    "__iand__",
    "__ior__",
    "__ixor__",
    "__ilshift__",
    "__irshift__",
    "__imatmul__",
}


def _mutate_captured(func: Any, args: tuple, kwargs: dict, witness: torch.Tensor) -> Any:
    """Run the in-place op on a functionalized copy of the captured tensor, then rebind the
    tensor's value for the rest of the run (``Conversion.rebind_constant``). ``witness``, a
    functionalized argument, makes the copy a functionalized tensor too."""
    target = args[0]
    copy = witness.new_empty(target.shape, dtype=target.dtype)
    copy.copy_(target)
    result = func(copy, *args[1:], **kwargs)
    torch._sync(copy)
    current_conversion().rebind_constant(target, to_jax(torch._from_functional_tensor(copy)))
    return target if result is copy else result


@contextlib.contextmanager
def _older_objects_frozen() -> Iterator[None]:
    """Inside a JAX trace, keep the garbage collector's full collections off older objects.

    A full collection walks every object the process holds: 400k-500k once PyTorch, torchvision
    and transformers are imported, 0.3-0.6 s on a 2-core machine, and tracing a large model
    allocates enough to set one off (in about every first gradient trace of ViT-B/16 and
    BERT-base). Frozen, the older objects are skipped; what the trace itself allocates is still
    collected, and the freeze is undone on exit. Not in eager calls, which allocate little and
    may run in a loop (each freeze restarts the youngest generation's count), nor where the
    process froze objects itself.
    """
    if jax_core.trace_ctx.is_top_level() or not gc.isenabled() or gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def converting(rng: Any = None) -> Iterator[Conversion]:
    """Run PyTorch code on Torchish values: the modes on, grad mode on, compiler flag set,
    ``torch.autograd.Function`` and checkpointing routed to JAX (``torch2jax.autograd``).

    Global PyTorch state (grad mode, default dtype, the compiler flag, the mode stacks, the RNG
    state) is restored on exit, also when the code raises.
    """
    from torch2jax.autograd import autograd_in_conversion

    conversion = Conversion(rng)
    outer = getattr(_state, "conversion", None)
    _state.conversion = conversion
    was_compiling = torch.compiler._is_compiling_flag
    # Random draws come from `rng`, never from PyTorch's generator; only `torch.manual_seed` in
    # the converted code could change it, and that must not outlive the conversion.
    torch_rng_state = torch.random.get_rng_state()
    default_dtype = torch.get_default_dtype()
    # A converter is a compiler: model code takes its trace-friendly paths when it believes so.
    torch.compiler._is_compiling_flag = True
    try:
        with (
            _older_objects_frozen() if outer is None else contextlib.nullcontext(),
            torch.enable_grad(),
            autograd_in_conversion(),
            ConversionFunctionMode(),
            ConversionDispatchMode(),
        ):
            yield conversion
    finally:
        torch.compiler._is_compiling_flag = was_compiling
        torch.random.set_rng_state(torch_rng_state)
        torch.set_default_dtype(default_dtype)
        _state.conversion = outer
