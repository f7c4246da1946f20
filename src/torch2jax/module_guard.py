"""Keeping the user's module as it was: attributes that model code sets on ``self`` during a
converted call (a cache of rotary embeddings, say) would hold Torchish values, and under ``jit``
JAX tracers, after the call returns. ``guard_module`` puts every such attribute back."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import jax
import torch

from torch2jax.errors import TracerLeakWarning, tracer_leak_message, warn_at_user_line

# Where nn.Module keeps its own machinery; parameters and buffers are restored by functional_call.
_MODULE_INTERNALS = frozenset({"_parameters", "_buffers", "_modules", "training"})
_MISSING = object()


def _holds_traced(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is, or holds within a few levels of containers, a value of the trace.

    Every tensor that converted code creates is one (a Torchish, or PyTorch's functionalization
    wrapper around one), so any tensor set during the call counts."""
    if isinstance(value, (torch.Tensor, jax.core.Tracer)):
        return True
    if depth >= 4 or isinstance(value, (str, bytes, int, float, bool, type, torch.nn.Module)):
        return False
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_holds_traced(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return any(_holds_traced(v, depth + 1) for v in value.values())
    attributes = getattr(value, "__dict__", None)
    if isinstance(attributes, dict):
        return any(_holds_traced(v, depth + 1) for v in attributes.values())
    return False


def _attribute_snapshot(module: torch.nn.Module) -> list[tuple[str, torch.nn.Module, dict]]:
    snapshot = []
    for name, submodule in module.named_modules(remove_duplicate=True):
        attributes = {k: v for k, v in vars(submodule).items() if k not in _MODULE_INTERNALS}
        tensors = {**submodule._parameters, **submodule._buffers}
        # Lists and dicts can be filled in place (a cache list that the code appends to).
        contents = {k: _contents(v) for k, v in attributes.items() if _contents(v) is not None}
        snapshot.append(
            (name, submodule, {"attributes": attributes, "tensors": tensors, "contents": contents})
        )
    return snapshot


def _contents(value: Any) -> list | dict | None:
    if type(value) is list:
        return list(value)
    if type(value) is dict:
        return dict(value)
    return None


def _changed_in_place(value: Any, saved: list | dict | None) -> bool:
    if saved is None:
        return False
    if isinstance(saved, dict):
        return value.keys() != saved.keys() or any(value[k] is not saved[k] for k in saved)
    return len(value) != len(saved) or any(a is not b for a, b in zip(value, saved, strict=True))


def _restore_in_place(value: list | dict, saved: list | dict) -> None:
    if isinstance(value, dict):
        value.clear()
        value.update(saved)
    else:
        value[:] = saved


def _restore(snapshot: list[tuple[str, torch.nn.Module, dict]]) -> list[str]:
    """Put back every attribute that now holds a traced value; returns their descriptions."""
    leaks = []
    for prefix, submodule, before in snapshot:
        owner = f"{type(submodule).__name__}" + (f" ({prefix})" if prefix else "")
        attributes = vars(submodule)
        for key in [k for k in attributes if k not in _MODULE_INTERNALS]:
            old = before["attributes"].get(key, _MISSING)
            saved = before["contents"].get(key)
            if attributes[key] is old and _changed_in_place(old, saved) and _holds_traced(old):
                leaks.append(f"self.{key} on {owner} (filled in place)")
                _restore_in_place(old, saved)
                continue
            if attributes[key] is old or not _holds_traced(attributes[key]):
                continue
            leaks.append(f"self.{key} on {owner}")
            if old is _MISSING:
                del attributes[key]
            else:
                attributes[key] = old
        for table in (submodule._parameters, submodule._buffers):
            for key in list(table):
                old = before["tensors"].get(key, _MISSING)
                if table[key] is old or not _holds_traced(table[key]):
                    continue
                leaks.append(f"self.{key} (registered during the call) on {owner}")
                if old is _MISSING:
                    del table[key]
                else:
                    table[key] = old
    return leaks


@contextlib.contextmanager
def guard_module(module: torch.nn.Module) -> Iterator[None]:
    """Restore attributes that the code inside sets to traced values on ``module`` or its
    submodules; warn with ``TracerLeakWarning`` when the code returned normally."""
    snapshot = _attribute_snapshot(module)
    try:
        yield
    except BaseException:
        _restore(snapshot)
        raise
    leaks = _restore(snapshot)
    if leaks:
        warn_at_user_line(tracer_leak_message(leaks), TracerLeakWarning)
