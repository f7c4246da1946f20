"""t2j of functions and modules, j2t of JAX functions: pytrees, state_dict, rng, buffers."""

from __future__ import annotations

import collections
import contextlib
import functools
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch
import torch.utils._pytree as torch_pytree

from torch2jax.convert import tensor_to_array
from torch2jax.errors import StateDictError, state_dict_error
from torch2jax.module_guard import guard_module
from torch2jax.torchish import Torchish, converting

_ARRAY_TYPES = (jax.Array, jax.core.Tracer, np.ndarray, np.generic)


def _is_array(x: Any) -> bool:
    return isinstance(x, _ARRAY_TYPES)


# --------------------------------------------------------------------------------------------------
# Outputs: tensors back to arrays, containers kept


_registered_with_jax: set[type] = set()


def _hashable(context: Any) -> Any:
    if isinstance(context, list):
        return tuple(_hashable(c) for c in context)
    return context


def _register_container_with_jax(cls: type) -> None:
    """Make a container PyTorch's pytree knows (a HuggingFace ModelOutput, say) a JAX pytree too."""
    if cls in _registered_with_jax:
        return
    _registered_with_jax.add(cls)
    node = torch_pytree.SUPPORTED_NODES[cls]
    try:
        jax.tree_util.register_pytree_node(
            cls,
            lambda obj: (lambda children, context: (children, _hashable(context)))(
                *node.flatten_fn(obj)
            ),
            lambda context, children: node.unflatten_fn(list(children), context),
        )
    except ValueError:  # already registered with JAX by someone else
        pass


_JAX_NATIVE_CONTAINERS = (tuple, list, dict, collections.OrderedDict, collections.defaultdict)


def _register_spec_containers(spec: torch_pytree.TreeSpec) -> None:
    node_type = spec.type
    if node_type is not None and node_type not in _JAX_NATIVE_CONTAINERS:
        if not torch_pytree.is_namedtuple_class(node_type):
            _register_container_with_jax(node_type)
    for child in spec.children():
        _register_spec_containers(child)


class _Static:
    """Non-array attributes of an object in the output, kept as pytree metadata."""

    def __init__(self, items: tuple[tuple[str, Any], ...]):
        self.items = items

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Static) and [k for k, _ in self.items] == [
            k for k, _ in other.items
        ]

    def __hash__(self) -> int:
        return hash(tuple(k for k, _ in self.items))


def _holds_tensors(value: Any, depth: int = 0) -> bool:
    if isinstance(value, (torch.Tensor, *_ARRAY_TYPES)):
        return True
    if depth > 3:
        return False
    if isinstance(value, (list, tuple)):
        return any(_holds_tensors(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return any(_holds_tensors(v, depth + 1) for v in value.values())
    return hasattr(value, "__dict__") and any(
        _holds_tensors(v, depth + 1) for v in vars(value).values()
    )


def _flatten_object(obj: Any) -> tuple[list[Any], Any]:
    dynamic = tuple(k for k, v in vars(obj).items() if _holds_tensors(v))
    static = _Static(tuple((k, v) for k, v in vars(obj).items() if k not in dynamic))
    return [getattr(obj, k) for k in dynamic], (dynamic, static)


def _unflatten_object(cls: type, aux: Any, children: Any) -> Any:
    dynamic, static = aux
    obj = object.__new__(cls)
    vars(obj).update(static.items)
    vars(obj).update(zip(dynamic, children, strict=True))
    return obj


def _register_object(cls: type) -> None:
    """An object that carries tensors in its attributes (a KV cache, say) as a pytree of both
    libraries, so functionalization unwraps its tensors and JAX sees its arrays."""
    _registered_with_jax.add(cls)
    torch_pytree.register_pytree_node(
        cls,
        _flatten_object,
        lambda children, aux: _unflatten_object(cls, aux, children),
        serialized_type_name=f"torch2jax.{cls.__module__}.{cls.__qualname__}",
    )
    jax.tree_util.register_pytree_node(
        cls, _flatten_object, lambda aux, children: _unflatten_object(cls, aux, children)
    )


def _register_tensor_carriers(out: Any) -> None:
    """Register every object in ``out`` that PyTorch's pytree sees as a leaf but holds tensors."""
    while True:
        carriers = {
            type(leaf)
            for leaf in torch_pytree.tree_leaves(out)
            if not isinstance(leaf, torch.Tensor)
            and hasattr(leaf, "__dict__")
            and not isinstance(leaf, type)
            and _holds_tensors(leaf)
        }
        if not carriers:
            return
        for cls in carriers:
            _register_object(cls)


def _output_to_jax(out: Any) -> Any:
    leaves, spec = torch_pytree.tree_flatten(out)
    converted = [
        leaf.value
        if isinstance(leaf, Torchish)
        else tensor_to_array(leaf)
        if isinstance(leaf, torch.Tensor)
        else leaf
        for leaf in leaves
    ]
    _register_spec_containers(spec)
    return torch_pytree.tree_unflatten(converted, spec)


# --------------------------------------------------------------------------------------------------
# Running PyTorch code on Torchish values


def _run_converted(
    fn: Callable[..., Any], args: tuple, kwargs: dict, rng: Any, state: list[Any] = ()
) -> tuple[Any, list[Any]]:
    """Call ``fn(*args, *state_tensors, **kwargs)`` with every array as a Torchish, functionalized.

    Returns the JAX outputs and the final values of the state entries (after in-place updates).
    """
    leaves, treedef = jax.tree_util.tree_flatten((args, kwargs))
    array_positions = [i for i, leaf in enumerate(leaves) if _is_array(leaf)]
    with converting(rng):
        arg_tensors = [Torchish(jnp.asarray(leaves[i])) for i in array_positions]
        state_tensors = [Torchish(jnp.asarray(value)) for value in state]

        def body(*tensors: torch.Tensor) -> Any:
            filled = list(leaves)
            for position, tensor in zip(array_positions, tensors, strict=False):
                filled[position] = tensor
            call_args, call_kwargs = jax.tree_util.tree_unflatten(treedef, filled)
            out = fn(*call_args, *tensors[len(array_positions) :], **call_kwargs)
            _register_tensor_carriers(out)
            return out

        out = torch.func.functionalize(body, remove="mutations_and_views")(
            *arg_tensors, *state_tensors
        )
        return _output_to_jax(out), [t.value for t in state_tensors]


def function_to_jax(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def jax_function(*args: Any, rng: Any = None, **kwargs: Any) -> Any:
        owner = getattr(fn, "__self__", None)  # t2j(model.forward): guard the model too
        with (
            guard_module(owner) if isinstance(owner, torch.nn.Module) else contextlib.nullcontext()
        ):
            return _run_converted(fn, args, kwargs, rng)[0]

    return jax_function


# --------------------------------------------------------------------------------------------------
# Modules


# id(tensor) -> (weak reference, version counter, array); the weak reference tells a reused id apart.
_constant_cache: dict[int, tuple[weakref.ref, int, Any]] = {}


def _module_tensor_as_array(tensor: torch.Tensor) -> Any:
    """A module's own parameter/buffer as a JAX array, reconverted only when it changed in place."""
    cached = _constant_cache.get(id(tensor))
    if cached is not None and cached[0]() is tensor and cached[1] == tensor._version:
        return cached[2]
    array = tensor_to_array(tensor)
    key = id(tensor)
    _constant_cache[key] = (
        weakref.ref(tensor, lambda _: _constant_cache.pop(key, None)),
        tensor._version,
        array,
    )
    return array


def _named_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    state = dict(module.named_parameters(remove_duplicate=False))
    state.update(module.named_buffers(remove_duplicate=False))
    return state


def _tied_groups(state: dict[str, torch.Tensor]) -> list[list[str]]:
    """Names grouped by the tensor they name: tied weights are one group."""
    groups: dict[int, list[str]] = {}
    for name, tensor in state.items():
        groups.setdefault(id(tensor), []).append(name)
    return list(groups.values())


def _check_state_dict(state: dict[str, torch.Tensor], given: Mapping[str, Any]) -> None:
    state_dict_error({name: tuple(tensor.shape) for name, tensor in state.items()}, dict(given))


def _write_back_rebound(
    parameters: dict[str, torch.Tensor], groups: list[list[str]], state_tensors: tuple
) -> None:
    """Buffers the forward rebound (``self.ema = 0.9 * self.ema + ...``) become updates of the
    state: ``functional_call`` leaves the new tensor in ``parameters``, and copying it into the
    state tensor makes functionalization write it back like an in-place update."""
    for group, tensor in zip(groups, state_tensors, strict=True):
        new = parameters[group[0]]
        if new is tensor:
            continue
        if tuple(new.shape) != tuple(tensor.shape):
            raise StateDictError(
                f"torch2jax: the module rebound {group[0]} to a tensor of shape "
                f"{tuple(new.shape)}, but the state holds shape {tuple(tensor.shape)}; a "
                f"functional state cannot change shape. Keep the shape, or update in place."
            )
        tensor.copy_(new)


def module_to_jax(module: torch.nn.Module) -> Callable[..., Any]:
    forward_doc = getattr(type(module).forward, "__doc__", None)

    def jax_module(
        *args: Any,
        state_dict: Mapping[str, Any] | None = None,
        rng: Any = None,
        return_state_dict: bool = False,
        **kwargs: Any,
    ) -> Any:
        state = _named_state(module)
        given = dict(state_dict or {})
        _check_state_dict(state, given)
        groups = _tied_groups(state)
        values = []
        for group in groups:
            name = next((n for n in group if n in given), None)
            tensor = state[group[0]]
            value = given[name] if name is not None else _module_tensor_as_array(tensor)
            if not tensor.requires_grad and isinstance(tensor, torch.nn.Parameter):
                value = jax.lax.stop_gradient(value)
            values.append(value)

        def call(*call_args: Any, **call_kwargs: Any) -> Any:
            state_tensors = call_args[len(call_args) - len(groups) :]
            inputs = call_args[: len(call_args) - len(groups)]
            parameters = {group[0]: t for group, t in zip(groups, state_tensors, strict=True)}
            out = torch.func.functional_call(module, parameters, inputs, call_kwargs, strict=False)
            _write_back_rebound(parameters, groups, state_tensors)
            return out

        with guard_module(module):
            out, new_values = _run_converted(call, args, kwargs, rng, values)
        if not return_state_dict:
            return out
        new_state = {
            name: value for group, value in zip(groups, new_values, strict=True) for name in group
        }
        return out, new_state

    jax_module.__doc__ = forward_doc
    jax_module.__name__ = type(module).__name__
    return jax_module
