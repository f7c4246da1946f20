"""torch2jax: run PyTorch code in JAX.

``t2j`` turns a PyTorch tensor, function or ``nn.Module`` into its JAX equivalent by running the
PyTorch code on JAX values, so the result is a JAX computation that ``jax.jit``, ``jax.grad``,
``jax.vmap`` and every JAX backend accept. ``j2t`` goes the other way. Run converted code under
``jax.jit``: un-jitted, every PyTorch operation is one JAX dispatch, which is slow by nature.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
import torch
import torch.utils._pytree as torch_pytree

from torch2jax import ops as _ops  # noqa: F401  (registers the built-in lowerings)
from torch2jax.convert import array_to_tensor, tensor_to_array
from torch2jax.errors import (
    CapturedMutationWarning,
    ConcretizationError,
    DataDependentShapeError,
    MissingRNGError,
    StateDictError,
    Torch2JaxError,
    TracerLeakWarning,
    UnsupportedOperationError,
)
from torch2jax.exported import exported_program_to_jax
from torch2jax.exporting import batch_polymorphic
from torch2jax.functional import function_to_jax, module_to_jax
from torch2jax.jax_in_torch import jax_function_to_torch
from torch2jax.registry import implements
from torch2jax.sharding import (
    ShardingRuleError,
    named_shardings,
    partition_specs,
    shard_state_dict,
)
from torch2jax.torchish import Torchish
from torch2jax.xla_options import recommended_compiler_options

__all__ = [
    "CapturedMutationWarning",
    "ConcretizationError",
    "DataDependentShapeError",
    "MissingRNGError",
    "ShardingRuleError",
    "StateDictError",
    "Torch2JaxError",
    "Torchish",
    "TracerLeakWarning",
    "UnsupportedOperationError",
    "batch_polymorphic",
    "compiler_options",
    "implements",
    "j2t",
    "named_shardings",
    "partition_specs",
    "shard_state_dict",
    "t2j",
]


def t2j(obj: Any) -> Any:
    """Convert PyTorch to JAX.

    - ``t2j(tensor)`` -> ``jax.Array`` sharing the tensor's memory where DLPack allows (a permuted
      or sliced tensor is copied; 64-bit tensors become 32-bit when ``jax_enable_x64`` is off).
    - ``t2j(tree)`` -> the same dicts/lists/tuples with every tensor converted (a ``state_dict``).
    - ``t2j(fn)`` -> ``jf(*args, rng=None, **kwargs)``: ``fn`` takes and returns tensors (any
      pytree), ``jf`` takes and returns JAX arrays. Python scalars and other non-array arguments
      pass through unchanged. ``rng`` is a ``jax.random`` key from which every random draw inside
      ``fn`` is derived.
    - ``t2j(module)`` -> ``jm(*args, state_dict=None, rng=None, return_state_dict=False, **kwargs)``.
      ``state_dict`` maps parameter/buffer names to arrays; names it leaves out use the module's own
      tensors as constants. Tied weights are one array under either name. With
      ``return_state_dict=True`` the result is ``(outputs, new_state_dict)`` holding every
      parameter and buffer after the call (batch-norm running statistics, say). Train/eval mode is
      the module's own at call time. The module itself is never modified.
    - ``t2j(exported_program)`` (``torch.export.export(...)``) -> the exported graph with the same
      calling convention as a module; its parameters and buffers are the state.

    The result composes with ``jax.jit``, ``jax.grad``, ``jax.vmap``, ``jax.jvp`` and friends::

        jax_vit = t2j(vit)
        params = {k: t2j(v) for k, v in vit.named_parameters()}
        logits = jax.jit(jax_vit)(t2j(images), state_dict=params)
    """
    if isinstance(obj, torch.nn.Module):
        return module_to_jax(obj)
    if isinstance(obj, torch.export.ExportedProgram):
        return exported_program_to_jax(obj)
    if isinstance(obj, torch.Tensor):
        return tensor_to_array(obj)
    if callable(obj):
        return function_to_jax(obj)
    return torch_pytree.tree_map_only(torch.Tensor, tensor_to_array, obj)


def j2t(obj: Any) -> Any:
    """Convert JAX to PyTorch.

    - ``j2t(array)`` -> ``torch.Tensor``, sharing memory through DLPack on CPU.
    - ``j2t(tree)`` -> the same containers with every array converted.
    - ``j2t(jax_fn)`` -> a function that takes and returns tensors (any pytree; other arguments are
      static), runs ``jax_fn`` jitted on the tensors' memory (DLPack), and is differentiable with
      ``torch.autograd``: backward through ``jax.vjp``, double backward through the VJP's own VJP.
      Called inside code that ``t2j`` converts, ``jax_fn`` is inlined into the JAX trace.
    """
    if isinstance(obj, (jax.Array, np.ndarray)):
        return array_to_tensor(obj)
    if callable(obj):
        return jax_function_to_torch(obj)
    return jax.tree_util.tree_map(
        lambda x: array_to_tensor(x) if isinstance(x, (jax.Array, np.ndarray)) else x, obj
    )


def compiler_options() -> dict[str, Any]:
    """XLA compiler options that make converted models faster on JAX's default backend.

    Pass them to ``jax.jit``::

        fast = jax.jit(t2j(model), compiler_options=torch2jax.compiler_options())

    On CPU they keep XLA:CPU's YNNPACK library for matrix products only, so convolutions take
    XLA's other convolution path: measured on a 2-core x86 CPU, ResNet-18's jitted forward pass
    runs about 1.3x faster at batch 8 and 1.25x at batch 1, transformers as fast or faster (see
    docs/benchmarks.md). They change nothing but speed and last-digit round-off. On other
    backends, or with a jaxlib that does not know these (experimental) options, the result is
    ``{}``.
    """
    return dict(recommended_compiler_options(jax.default_backend()))
