"""Where lowerings are registered (`@implements`) and looked up.

Two tables: ATen operations (``torch.ops.aten.sin.default``, or a whole overload packet
``torch.ops.aten.sin``), met in ``__torch_dispatch__`` after PyTorch's dispatcher has decomposed
composite operations; and PyTorch API functions (``torch.nn.functional.gelu``), met in
``__torch_function__`` before any decomposition, for operations whose direct JAX lowering beats
the decomposition.

A lowering takes the operation's arguments with every tensor replaced by its JAX array (other
arguments as PyTorch passes them) and returns JAX arrays in the operation's output structure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch

F = TypeVar("F", bound=Callable[..., Any])


class _LoweringTable(dict):
    """The ATen and view-inverse tables; any change to them (``@implements``, a test's
    monkeypatch) forgets the resolved lookups below."""

    def _changed(self) -> None:
        _resolved.clear()

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self._changed()

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(key)
        self._changed()

    def pop(self, *args: Any) -> Any:
        self._changed()
        return super().pop(*args)

    def popitem(self) -> Any:
        self._changed()
        return super().popitem()

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self._changed()
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self._changed()

    def clear(self) -> None:
        super().clear()
        self._changed()


aten_lowerings: dict[Any, Callable[..., Any]] = _LoweringTable()
# id(overload) -> (overload, its lowering or None, its view inverse or None), resolved once:
# dispatch looks every ATen call up here. Keyed by id because OpOverload.__hash__ is Python code
# (half a microsecond per lookup); the entry holds the overload, so its id stays its own.
_resolved: dict[int, tuple[Any, Callable[..., Any] | None, Callable[..., Any] | None]] = {}
api_overrides: dict[Callable[..., Any], Callable[..., Any]] = {}
# Lowerings of optional libraries' operators (torchvision::nms, say), keyed by namespace: they
# register when the first operation of that namespace is looked up, so torch2jax never imports the
# library itself.
lazy_namespaces: dict[str, Callable[[], None]] = {}
# View op packet -> fn(base, changed_view, *view_args): the base with the view's new values written
# back. Only for code that runs below functionalization (PyTorch's C++ composite kernels, such as
# circular padding, write into slices of a tensor they just created).
view_inverses: dict[Any, Callable[..., Any]] = _LoweringTable()


def implements(*targets: Any) -> Callable[[F], F]:
    """Register a JAX lowering for PyTorch operations.

    Each target is an ATen operation (``torch.ops.aten.my_op.default``, or the packet
    ``torch.ops.aten.my_op`` for all its overloads) or a PyTorch API function
    (``torch.nn.functional.my_function``, ``torch.Tensor.my_method``), which then overrides
    PyTorch's own decomposition of it. The decorated function receives the operation's arguments,
    tensors as ``jax.Array``, and returns ``jax.Array`` values in the same structure PyTorch
    returns tensors in::

        @implements(torch.ops.aten.erfinv.default)
        def erfinv(x):
            return jax.scipy.special.erfinv(x)

    A registration replaces any earlier lowering of the same target, so users can override the
    built-in ones.
    """

    def register(fn: F) -> F:
        for target in targets:
            if isinstance(target, (torch._ops.OpOverload, torch._ops.OpOverloadPacket)):
                aten_lowerings[target] = fn
            elif callable(target):
                api_overrides[target] = fn
            else:
                raise TypeError(
                    f"@implements: {target!r} is neither an ATen operation nor a callable"
                )
        return fn

    return register


def dispatch_entry(
    op: torch._ops.OpOverload,
) -> tuple[Any, Callable[..., Any] | None, Callable[..., Any] | None]:
    """``(op, lowering, view_inverse)``: the lowering of an ATen overload (its own, else its
    packet's) and, for a view op, how to write a changed view back into its base."""
    entry = _resolved.get(id(op))
    if entry is None:
        packet = getattr(op, "overloadpacket", None)
        entry = _resolved[id(op)] = (op, _resolve(op), view_inverses.get(packet))
    return entry


def aten_lowering(op: torch._ops.OpOverload) -> Callable[..., Any] | None:
    """The lowering of an ATen overload: its own, else its packet's."""
    return dispatch_entry(op)[1]


def _resolve(op: torch._ops.OpOverload) -> Callable[..., Any] | None:
    fn = aten_lowerings.get(op)
    if fn is None:
        fn = aten_lowerings.get(op.overloadpacket)
    if fn is None and op.namespace in lazy_namespaces:
        lazy_namespaces.pop(op.namespace)()
        return _resolve(op)
    return fn
