"""The errors torch2jax raises, and where in the user's code they point.

Every message names what went wrong in the user's terms (the PyTorch function they called, the
file and line in their code) and says what to do about it.
"""

from __future__ import annotations

import difflib
import linecache
import os
import re
import sys
import warnings
from collections.abc import Iterable
from typing import Any

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


def _source_text(location: str) -> str:
    """The code at 'file:line', stripped, or '' when the file cannot be read."""
    filename, _, line = location.rpartition(":")
    return linecache.getline(filename, int(line)).strip() if line.isdigit() else ""


def _where(location: str | None) -> str:
    """'at file:line' followed by the line's code on its own line, for the end of a sentence."""
    if location is None:
        return ""
    text = _source_text(location)
    return f" at {location}" + (f":\n    {text}" if text else "")


_MODULE_ALIASES = {
    "torch._C._nn": "torch.nn.functional",
    "torch._C._special": "torch.special",
    "torch._C._fft": "torch.fft",
    "torch._C._linalg": "torch.linalg",
    "torch._C._nested": "torch.nested",
    "torch._C._sparse": "torch.sparse",
    "torch.functional": "torch",
}


def api_name(func: Any) -> str:
    """The name a user writes for a PyTorch API function: ``torch.Tensor.item``, ``torch.randn``,
    ``torch.nn.functional.linear``, ``torch.unique`` (not ``TensorBase.item``,
    ``_VariableFunctionsClass.randn``, ``torch._C._nn.linear`` or ``boolean_dispatch.<locals>.fn``)."""
    if isinstance(func, (torch._ops.OpOverload, torch._ops.OpOverloadPacket)):
        return f"torch.ops.{func}"
    name = getattr(func, "__name__", None) or repr(func)
    qualname = getattr(func, "__qualname__", None) or name
    owner = getattr(func, "__objclass__", None)
    if isinstance(owner, type) and issubclass(owner, torch._C.TensorBase):
        return f"torch.Tensor.{name}"
    if qualname.startswith(("TensorBase.", "Tensor.")):
        return f"torch.Tensor.{name}"
    module = getattr(func, "__module__", None) or ""
    if qualname.startswith("_VariableFunctionsClass."):
        return f"torch.{name}"
    if module in _MODULE_ALIASES:
        prefix = _MODULE_ALIASES[module]
        short = module.rsplit("_", 1)[-1]  # torch._C._special.special_zeta -> torch.special.zeta
        if name.startswith(short + "_"):
            name = name[len(short) + 1 :]
        return f"{prefix}.{name}"
    if "<locals>" in qualname:  # a wrapper made by a factory, e.g. boolean_dispatch
        qualname = name
    return f"{module}.{qualname}" if module else qualname


class Torch2JaxError(Exception):
    """Base class of the errors torch2jax raises about the code it converts."""


# --------------------------------------------------------------------------------------------------
# Unsupported operations


def _lowering_stub(aten_op: str, schema: Any = None) -> str:
    """An ``@implements`` snippet for ``aten_op`` with the operation's own argument names."""
    name = aten_op.split(".")[1] if aten_op.count(".") >= 1 else aten_op
    parameters = "*args, **kwargs"
    signature_comment = ""
    if schema is not None:
        names, seen_keyword_only = [], False
        for argument in schema.arguments:
            if argument.kwarg_only and not seen_keyword_only:
                names.append("*")
                seen_keyword_only = True
            default = ""
            if argument.has_default_value():
                default = f"={argument.default_value!r}"
            names.append(f"{argument.name}{default}")
        parameters = ", ".join(names)
        signature_comment = f"    # {schema}\n"
    return (
        "    import jax.numpy as jnp\n"
        "    import torch\n"
        "    from torch2jax import implements\n\n"
        f"{signature_comment}"
        f"    @implements(torch.ops.{aten_op})\n"
        f"    def {name}({parameters}):\n"
        "        # tensors arrive as jax arrays; return jax arrays in PyTorch's output structure\n"
        "        ...\n"
    )


class UnsupportedOperationError(Torch2JaxError, NotImplementedError):
    """A PyTorch operation has no JAX lowering and no decomposition into operations that have one.

    Attributes: ``aten_op`` (the ATen overload, ``"aten._unique2.default"``), ``api_call`` (the
    PyTorch function the user called, ``"torch.unique"``, when known) and ``source_line``.
    """

    def __init__(self, aten_op: str, api_call: str | None = None, schema: Any = None):
        self.aten_op = aten_op
        self.api_call = api_call
        self.source_line = user_source_line()
        called = f"{api_call} (ATen operation {aten_op})" if api_call else aten_op
        super().__init__(
            f"torch2jax does not support the PyTorch operation {called}"
            f"{_where(self.source_line) or '.'}\n"
            f"It has no JAX lowering and no decomposition into operations that have one. "
            f"Add a lowering before converting, written with jax.numpy on jax arrays:\n\n"
            f"{_lowering_stub(aten_op, schema)}\n"
            + (
                f"(or override the whole PyTorch function with @implements({api_call})). "
                if api_call and not api_call.startswith("torch.ops.")
                else ""
            )
            + "`torch2jax check` lists every unsupported operation of a model at once."
        )


# --------------------------------------------------------------------------------------------------
# Reading traced values into Python


_CONCRETIZATION_ADVICE = {
    "bool": (
        "Python control flow on a tensor (`if t:`, `while t:`, `assert t`, `and`/`or`) needs its "
        "value. Use torch.where(cond, a, b) to select without branching, move data checks "
        "(asserts) outside the converted function or skip them when "
        "torch.compiler.is_compiling() is true, or branch on static information (shapes, dtypes)"
    ),
    "number": (
        "A Python number needs the value. Keep it a tensor (a 0-d tensor broadcasts in arithmetic: "
        "`x * t` instead of `x * t.item()`), use shapes (static) instead of values where the "
        "number is a size, or make the value a static argument: "
        "jax.jit(f, static_argnums=...)"
    ),
    "host": (
        "A list or NumPy array needs the value. Keep working with tensors inside the converted "
        "function and convert its outputs afterwards (np.asarray(jax_output))"
    ),
}

# How a Python read of a tensor looks in user code, and which advice fits it.
_PYTHON_READS = {
    "__bool__": ("bool(tensor) (an `if`, `while`, `assert` or `and`/`or` on a tensor)", "bool"),
    "is_nonzero": ("bool(tensor)", "bool"),
    "__int__": ("int(tensor)", "number"),
    "__index__": ("using a tensor as an index or size (operator.index)", "number"),
    "__float__": ("float(tensor)", "number"),
    "__complex__": ("complex(tensor)", "number"),
    "item": ("tensor.item()", "number"),
    "tolist": ("tensor.tolist()", "host"),
    "numpy": ("tensor.numpy()", "host"),
    "__array__": ("np.asarray(tensor)", "host"),
}


class ConcretizationError(Torch2JaxError, TypeError):
    """PyTorch code read a traced value into Python (``.item()``, ``bool(t)``, ``int(t)``,
    ``.tolist()``, ``.numpy()``) under a JAX transformation.

    ``what`` is the PyTorch API function (``"torch.Tensor.item"``) or a description.
    """

    def __init__(self, what: str):
        self.what = what
        self.source_line = user_source_line()
        method = what.split("(")[0].rsplit(".", 1)[-1]
        described, kind = _PYTHON_READS.get(method, (what, "number"))
        super().__init__(
            f"torch2jax: {described} reads a tensor's value into Python, but the tensor is traced "
            f"by a JAX transformation (jit/grad/vmap) and has no value yet"
            f"{_where(self.source_line) or '.'}\n"
            f"{_CONCRETIZATION_ADVICE[kind]}; or call the converted function without jax.jit, "
            f"where this works."
        )


# --------------------------------------------------------------------------------------------------
# Data-dependent output shapes


_SHAPE_ADVICE = {
    "nonzero": "torch.nonzero_static(x, size=N) returns a fixed number N of indices (padded)",
    "argwhere": "torch.nonzero_static(x, size=N) returns a fixed number N of indices (padded)",
    "masked_select": "torch.where(mask, x, 0) keeps x's shape; torch.nonzero_static(mask, "
    "size=N) gives a fixed number of positions",
    "index": "torch.where(mask, x, 0) keeps x's shape instead of selecting; "
    "torch.nonzero_static(mask, size=N) gives a fixed number of positions to index with",
    "index_put": "torch.where(mask, values, x) (values broadcastable to x) updates in place of "
    "x[mask] = values",
    "repeat_interleave": "pass output_size= (the total length) to torch.repeat_interleave",
    "unique": "torch.unique has no fixed-size form; call JAX's jnp.unique(x, size=N) through "
    "j2t (torch2jax.j2t(lambda a: jnp.unique(a, size=N))(x)) or compute it outside jit",
    "bincount": "torch.bincount's length is max(x) + 1; compute counts with scatter_add into a "
    "tensor of fixed length (torch.zeros(N).scatter_add_(0, x, ones))",
}


def _shape_advice(op: str) -> str:
    for name, advice in _SHAPE_ADVICE.items():
        if re.search(rf"\b(aten|torch|Tensor)\.{name}\b", op):
            return f"Instead: {advice}."
    return ""


class DataDependentShapeError(Torch2JaxError, RuntimeError):
    """An operation's output shape depends on tensor values, which JAX cannot trace."""

    def __init__(self, op: str, advice: str = ""):
        self.op = op
        self.source_line = user_source_line()
        specific = " ".join(part for part in (advice, _shape_advice(op)) if part)
        super().__init__(
            f"torch2jax: {op} returns a tensor whose shape depends on the input's values, which "
            f"jax.jit cannot trace (JAX needs every shape before it sees any value)"
            f"{_where(self.source_line) or '.'}\n"
            + (specific + "\n" if specific else "")
            + "Otherwise: run the converted function without jax.jit (this works eagerly), or "
            "restructure the code so that shapes are static, for example by masking "
            "(torch.where(mask, x, 0)) instead of selecting (x[mask])."
        )


# --------------------------------------------------------------------------------------------------
# Randomness without a key


class MissingRNGError(Torch2JaxError, ValueError):
    """A random operation ran without a JAX PRNG key."""

    def __init__(self, op: str):
        self.op = op
        self.source_line = user_source_line()
        super().__init__(
            f"torch2jax: {op} draws random numbers, but no JAX PRNG key was given"
            f"{_where(self.source_line) or '.'}\n"
            f"torch2jax never uses PyTorch's global generator. Pass a key: "
            f"`t2j(fn)(*args, rng=jax.random.key(0))`, or for a module "
            f"`t2j(model)(*args, state_dict=params, rng=key)`, and split a fresh key for every "
            f"step. (Dropout draws only in training mode: call model.eval() for inference.)"
        )


# --------------------------------------------------------------------------------------------------
# state_dict= entries


def _suggestion(name: str, known: Iterable[str]) -> str:
    known = list(known)
    for prefix in ("module.", "model.", "_orig_mod."):
        if name.startswith(prefix) and name[len(prefix) :] in known:
            return f" (drop the prefix {prefix!r})"
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def state_dict_error(expected: dict[str, tuple[int, ...]], given: dict[str, Any]) -> None:
    """Raise one ``StateDictError`` listing every unknown name and every mis-shaped array in
    ``given`` against the module's ``expected`` shapes; return when all entries fit."""
    import numpy as np

    unknown = [name for name in given if name not in expected]
    mismatched = [
        f"{name}: got {tuple(np.shape(value))}, expected {tuple(expected[name])}"
        for name, value in given.items()
        if name in expected and tuple(np.shape(value)) != tuple(expected[name])
    ]
    if not unknown and not mismatched:
        return
    lines = ["torch2jax: the state_dict= passed to the converted module does not fit it."]
    if unknown:
        lines.append(f"Names the module does not have ({len(unknown)}):")
        lines += [f"  {name}{_suggestion(name, expected)}" for name in sorted(unknown)]
    if mismatched:
        lines.append(f"Shapes that do not match ({len(mismatched)}):")
        lines += [f"  {entry}" for entry in mismatched]
    lines.append(
        "Build it from the module itself: {k: t2j(v) for k, v in model.state_dict().items()} "
        "(names left out use the module's own tensors)."
    )
    raise StateDictError("\n".join(lines))


class StateDictError(Torch2JaxError, ValueError):
    """``state_dict=`` holds names the module does not have, or arrays of the wrong shape."""


# --------------------------------------------------------------------------------------------------
# Tracers kept by model code


class TracerLeakWarning(UserWarning):
    """Model code kept a traced tensor on the module (a cache on ``self``) after the call.

    torch2jax restores the attribute, so the module is unchanged and later calls stay correct;
    the warning says which attribute and how to keep such state instead.
    """


def tracer_leak_message(leaks: list[str]) -> str:
    listed = "\n".join(f"  {leak}" for leak in leaks)
    return (
        "torch2jax: the model's code stored tensors computed during the converted call on the "
        f"module itself:\n{listed}\n"
        "Under jax.jit these are tracers that must not outlive the trace (a later call would fail "
        "with an UnexpectedTracerError or silently reuse stale values), so torch2jax restored "
        "the attributes to what they were before the call. If they are caches (rotary "
        "embeddings, masks), nothing more is needed: they are recomputed on each call. If they "
        "are state that must carry over between calls, register them as buffers "
        "(self.register_buffer(name, tensor)) and use return_state_dict=True to get their new "
        "values."
    )


def warn_at_user_line(message: str, category: type[Warning]) -> None:
    """Warn pointing at the user's code, not at JAX's tracing machinery or torch2jax."""
    filename, _, line = (user_source_line() or "<unknown>:0").rpartition(":")
    warnings.warn_explicit(message, category, filename, int(line), module="torch2jax")


# --------------------------------------------------------------------------------------------------
# Captured tensors changed in place


class CapturedMutationWarning(UserWarning):
    """Converted code changed, in place, a plain tensor that it captured instead of receiving it.

    The rest of the call sees the new value, but it is not written back: a converted function is
    pure, and under ``jax.jit`` the new value is a tracer. The warning says how to keep it.
    """


def captured_mutation_message(api: str | None) -> str:
    operation = f" ({api}, and maybe more)" if api else ""
    return (
        f"torch2jax: the converted code changes in place{operation} tensors that it captured "
        "(globals, closure variables or module buffers that were not passed in). The rest of "
        "this call sees the changes, but the PyTorch tensors keep their old values: converted code is a pure function, and under "
        "jax.jit the new value is only a tracer. To keep such state, pass the tensor in and "
        "return its new value, or convert the module itself (t2j(module)) and call it with "
        "return_state_dict=True (batch-norm running statistics, say)."
    )
