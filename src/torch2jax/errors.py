"""The errors torch2jax raises, and where in the user's code they point."""

from __future__ import annotations

import os
import sys

import jax
import torch


def _package_dir(module) -> str:
    return os.path.dirname(os.path.abspath(module.__file__)) + os.sep


_INTERNAL_DIRS = tuple(
    {
        _package_dir(torch),
        _package_dir(jax),
        os.path.dirname(os.path.abspath(__file__)) + os.sep,
        os.path.dirname(os.path.abspath(os.__file__)) + os.sep + "contextlib.py",
        os.path.dirname(os.path.abspath(os.__file__)) + os.sep + "functools.py",
    }
)


def user_source_line() -> str | None:
    """'file:line' of the innermost frame outside torch, jax, torch2jax and the standard library."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith(_INTERNAL_DIRS) and not filename.startswith("<"):
            return f"{filename}:{frame.f_lineno}"
        frame = frame.f_back
    return None


def _at_user_line() -> str:
    line = user_source_line()
    return f" (at {line})" if line else ""


class Torch2JaxError(Exception):
    """Base class of the errors torch2jax raises about the code it converts."""


class UnsupportedOperationError(Torch2JaxError, NotImplementedError):
    """A PyTorch operation has no JAX lowering and no decomposition into operations that have one."""

    def __init__(self, aten_op: str, api_call: str | None = None):
        self.aten_op = aten_op
        self.api_call = api_call
        self.source_line = user_source_line()
        called = f"{api_call} -> " if api_call else ""
        where = f" at {self.source_line}" if self.source_line else ""
        packet = aten_op.rsplit(".", 1)[0] if aten_op.count(".") >= 2 else aten_op
        name = packet.split(".")[-1]
        super().__init__(
            f"torch2jax does not support the PyTorch operation {called}{aten_op}{where}.\n"
            f"Add it with a JAX lowering:\n\n"
            f"    import torch, jax.numpy as jnp\n"
            f"    from torch2jax import implements\n\n"
            f"    @implements(torch.ops.{aten_op})\n"
            f"    def {name}(*args, **kwargs):  # tensors arrive as jax arrays\n"
            f"        ...  # return jax arrays\n"
        )


class ConcretizationError(Torch2JaxError, TypeError):
    """PyTorch code read a traced value into Python (``.item()``, ``bool(t)``, ...) under a JAX transformation."""

    def __init__(self, what: str):
        super().__init__(
            f"torch2jax: {what} needs a concrete value, but the tensor is traced by a JAX "
            f"transformation (jit/grad/vmap){_at_user_line()}. Keep the value as a tensor "
            f"(torch.where instead of `if`, tensor arithmetic instead of .item()), mark the "
            f"argument static (jax.jit(..., static_argnums=...)), or run the function without jit."
        )


class DataDependentShapeError(Torch2JaxError, RuntimeError):
    """An operation's output shape depends on tensor values, which JAX cannot trace."""

    def __init__(self, op: str, advice: str = ""):
        super().__init__(
            f"torch2jax: {op} returns a tensor whose shape depends on the input's values, "
            f"which jax.jit cannot trace{_at_user_line()}. "
            + (advice + " " if advice else "")
            + "Run it without jit, or restructure the code so that shapes are static (for "
            "example, torch.where(mask, x, 0) instead of x[mask])."
        )


class MissingRNGError(Torch2JaxError, ValueError):
    """A random operation ran without a JAX PRNG key."""

    def __init__(self, op: str):
        super().__init__(
            f"torch2jax: {op} draws random numbers{_at_user_line()}, but no JAX PRNG key was "
            f"given. Pass one: `t2j(fn)(*args, rng=jax.random.key(0))` (or the module's "
            f"`jm(*args, state_dict=..., rng=key)`)."
        )


class StateDictError(Torch2JaxError, ValueError):
    """``state_dict=`` holds names the module does not have, or arrays of the wrong shape."""
