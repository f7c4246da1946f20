"""Which PyTorch operations a conversion meets, and how torch2jax handles each one.

``recording()`` observes the conversion from outside (it wraps ``torchish.dispatch`` and the
API-override table for the duration of the ``with`` block), so ordinary conversions pay nothing.
With ``keep_going=True`` an operation that has no lowering does not stop the run: PyTorch
computes it (on concrete values; under a trace, its meta kernel gives output shapes that stand in
as zeros), so one run lists every unsupported operation of a model instead of the first one. ``torch2jax check`` is built on it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import torch
import torch.utils._pytree as torch_pytree
from torch.utils._python_dispatch import _disable_current_modes

from torch2jax import registry, torchish
from torch2jax.convert import array_to_tensor, tensor_to_array, to_jax_dtype
from torch2jax.errors import UnsupportedOperationError, api_name, user_source_line
from torch2jax.torchish import Torchish

# How an operation ran: a JAX lowering of its own, PyTorch's decomposition of it into other
# operations (listed separately), an @implements override of the PyTorch API function, or none.
LOWERING, DECOMPOSITION, OVERRIDE, MISSING = "lowering", "decomposition", "override", "missing"

# Internal plumbing that carries JAX calls through PyTorch's dispatcher; not the user's operation.
_INTERNAL_OPS = {str(torchish.jax_call_op)}


@dataclasses.dataclass
class OpRecord:
    """One PyTorch operation met during a conversion."""

    name: str  # "aten.convolution.default", or an API function for overrides
    how: str  # LOWERING, DECOMPOSITION, OVERRIDE or MISSING
    count: int = 0
    api_call: str | None = None  # the PyTorch function the user called that led here
    source_line: str | None = None  # 'file:line' in the user's code, first time met

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class OpLog:
    """Every operation met, in first-met order."""

    records: dict[str, OpRecord] = dataclasses.field(default_factory=dict)

    def add(self, name: str, how: str) -> None:
        record = self.records.get(name)
        if record is None:
            api = torchish.current_conversion().current_api_call()
            record = self.records[name] = OpRecord(name, how, 0, api, user_source_line())
        elif how == MISSING:
            record.how = MISSING
        record.count += 1

    @property
    def missing(self) -> list[OpRecord]:
        return [r for r in self.records.values() if r.how == MISSING]


class _RecordingOverrides(dict):
    """The API-override table, noting each override that the conversion uses."""

    def __init__(self, table: dict, log: OpLog):
        super().__init__(table)
        self.log = log

    def get(self, key: Any, default: Any = None) -> Any:
        found = super().get(key, default)
        if found is not None and found is not default:
            self.log.add(api_name(key), OVERRIDE)
        return found


def _is_lowered(func: Any) -> bool:
    return id(func) in torchish._SPECIAL_OPS or registry.aten_lowering(func) is not None


def _pytorch_stand_in(func: Any, args: tuple, kwargs: dict) -> Any:
    """``func``'s outputs computed by PyTorch itself: on the real values when they are concrete,
    else as zeros with the shapes and dtypes of PyTorch's meta kernel."""
    values = [x.value for x in torch_pytree.tree_leaves((args, kwargs)) if isinstance(x, Torchish)]
    concrete = not any(isinstance(v, jax.core.Tracer) for v in values)

    def to_pytorch(x: Any) -> Any:
        if isinstance(x, Torchish):
            return array_to_tensor(x.value).clone() if concrete else _meta_like(x)
        if isinstance(x, torch.Tensor):
            return x if concrete else _meta_like(x)
        return x

    torch_args, torch_kwargs = torch_pytree.tree_map(to_pytorch, (args, kwargs))
    with _disable_current_modes(), torch._C.DisableTorchFunction():
        out = func(*torch_args, **torch_kwargs)

    def to_torchish(t: torch.Tensor) -> Torchish:
        if concrete:
            return Torchish(tensor_to_array(t))
        return Torchish(jnp.zeros(tuple(t.shape), to_jax_dtype(t.dtype)))

    return torch_pytree.tree_map_only(torch.Tensor, to_torchish, out)


def _meta_like(x: torch.Tensor) -> torch.Tensor:
    return torch.empty(x.shape, dtype=x.dtype, device="meta")


@contextlib.contextmanager
def recording(keep_going: bool = False) -> Iterator[OpLog]:
    """Record every operation that conversions inside the block meet.

    With ``keep_going``, an unsupported operation is recorded and computed by PyTorch instead of
    raising (see ``_pytorch_stand_in``), so the log is complete; under a trace its results are
    placeholders.
    """
    log = OpLog()
    dispatch = torchish.dispatch

    def observed_dispatch(func: Any, args: tuple, kwargs: dict) -> Any:
        name = str(func)
        if name in _INTERNAL_OPS:
            return dispatch(func, args, kwargs)
        if _is_lowered(func):
            log.add(name, LOWERING)
            return dispatch(func, args, kwargs)
        try:
            result = dispatch(func, args, kwargs)
        except UnsupportedOperationError as error:
            if error.aten_op != name:
                raise  # an operation inside the decomposition, already recorded
            log.add(name, MISSING)
            if not keep_going:
                raise
            try:
                return _pytorch_stand_in(func, args, kwargs)
            except Exception:
                raise error from None
        log.add(name, DECOMPOSITION)
        return result

    overrides = registry.api_overrides
    recording_overrides = _RecordingOverrides(overrides, log)
    torchish.dispatch = observed_dispatch
    registry.api_overrides = recording_overrides
    try:
        yield log
    finally:
        torchish.dispatch = dispatch
        registry.api_overrides = overrides
        overrides.update(recording_overrides)  # keep lowerings registered inside the block
