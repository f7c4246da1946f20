"""Sharding a converted model's state over a device mesh, by parameter-name rules.

A converted model is a pure JAX function of ``(inputs, state_dict)``, so running it sharded is plain
JAX: put the arrays on a ``jax.sharding.Mesh`` with ``NamedSharding``s and call it under
``jax.jit``; XLA inserts the communication. What a user needs from torch2jax is a way to say
*which* parameter is split along *which* mesh axis. Rules are ``(pattern, PartitionSpec)`` pairs:
the first pattern that ``re.search``-es a parameter's name gives its spec::

    rules = [
        (r"linear1\\.weight$", P("model", None)),   # column parallel
        (r"linear2\\.weight$", P(None, "model")),   # row parallel
    ]
    params = shard_state_dict(state_dict, mesh, rules)   # others replicated
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np
import torch
from jax.sharding import AbstractMesh, Mesh, NamedSharding, PartitionSpec

from torch2jax.convert import tensor_to_array

ShardingRules = Sequence[tuple[str, PartitionSpec]]


class ShardingRuleError(ValueError):
    """A sharding rule does not fit the state it is applied to."""


def _axis_size(mesh: Mesh | AbstractMesh, axes: Any) -> int:
    if axes is None:
        return 1
    names = axes if isinstance(axes, tuple) else (axes,)
    return math.prod(mesh.shape[name] for name in names)


def _spec_problem(
    name: str, shape: tuple, spec: PartitionSpec, mesh: Mesh | AbstractMesh | None
) -> str | None:
    if len(spec) > len(shape):
        return f"{name}: spec {spec} has more entries than the array's {len(shape)} dimensions"
    if mesh is None:
        return None
    for dim, axes in zip(shape, spec, strict=False):
        names = () if axes is None else axes if isinstance(axes, tuple) else (axes,)
        unknown = [n for n in names if n not in mesh.shape]
        if unknown:
            return f"{name}: mesh has no axis {unknown[0]!r} (axes: {tuple(mesh.shape)})"
        size = _axis_size(mesh, axes)
        if dim % size:
            return f"{name}: dimension {dim} of shape {shape} is not divisible by {axes} ({size})"
    return None


def partition_specs(
    state_dict: Mapping[str, Any],
    rules: ShardingRules,
    *,
    mesh: Mesh | AbstractMesh | None = None,
    default: PartitionSpec | None = PartitionSpec(),
) -> dict[str, PartitionSpec]:
    """The ``PartitionSpec`` of every entry of ``state_dict`` (arrays, tensors or shapes' holders).

    The first rule whose pattern ``re.search``-es the name wins. Names no rule matches get
    ``default`` (replicated); with ``default=None`` they raise instead. With ``mesh`` given, specs
    are checked against it (axis names exist, dimensions divide evenly). Every problem is reported
    at once in a ``ShardingRuleError``.
    """
    compiled = [(re.compile(pattern), spec) for pattern, spec in rules]
    specs: dict[str, PartitionSpec] = {}
    problems: list[str] = []
    for name, value in state_dict.items():
        spec = next((spec for pattern, spec in compiled if pattern.search(name)), default)
        if spec is None:
            problems.append(f"{name}: no rule matches")
            continue
        shape = tuple(value.shape) if hasattr(value, "shape") else tuple(np.shape(value))
        problem = _spec_problem(name, shape, spec, mesh)
        if problem:
            problems.append(problem)
        specs[name] = spec
    if problems:
        raise ShardingRuleError("torch2jax: sharding rules do not fit:\n  " + "\n  ".join(problems))
    return specs


def named_shardings(
    state_dict: Mapping[str, Any],
    mesh: Mesh,
    rules: ShardingRules,
    *,
    default: PartitionSpec | None = PartitionSpec(),
) -> dict[str, NamedSharding]:
    """``partition_specs`` as ``NamedSharding``s over ``mesh`` (for ``jax.jit``'s shardings)."""
    specs = partition_specs(state_dict, rules, mesh=mesh, default=default)
    return {name: NamedSharding(mesh, spec) for name, spec in specs.items()}


def shard_state_dict(
    state_dict: Mapping[str, Any],
    mesh: Mesh,
    rules: ShardingRules,
    *,
    default: PartitionSpec | None = PartitionSpec(),
) -> dict[str, jax.Array]:
    """``state_dict`` (torch tensors or arrays) placed on ``mesh`` by ``rules``, ready for a
    converted model's ``state_dict=``."""
    shardings = named_shardings(state_dict, mesh, rules, default=default)
    return {
        name: jax.device_put(
            tensor_to_array(value) if isinstance(value, torch.Tensor) else value, shardings[name]
        )
        for name, value in state_dict.items()
    }
