"""The model check behind ``torch2jax check``: load a target, make inputs, list the PyTorch
operations the conversion meets, compare outputs (and gradients) with PyTorch, time both, and
report as text or as a dict for JSON. ``torch2jax.cli`` is the command line around it."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import importlib
import importlib.util
import inspect
import os
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
import torch
import torch.utils._pytree as torch_pytree

from torch2jax import Torch2JaxError, t2j
from torch2jax.errors import _lowering_stub
from torch2jax.oplog import MISSING, OpLog, recording


class ProgressReporter(Protocol):
    """Shows long steps to a person: ``with progress.step("Compiling"): ...``."""

    def step(self, title: str) -> contextlib.AbstractContextManager[None]: ...


class _Silent:
    @contextlib.contextmanager
    def step(self, title: str) -> Iterator[None]:
        yield


# --------------------------------------------------------------------------------------------------
# Targets and inputs


class UsageError(Exception):
    """A bad command line: the message says what to write instead."""


def load_object(target: str) -> Any:
    """The object that ``package.module:attribute`` or ``path/to/file.py:attribute`` names."""
    location, sep, attribute = target.rpartition(":")
    if not sep or not location or not attribute:
        raise UsageError(
            f"target {target!r} should look like package.module:callable (for example "
            f"torchvision.models:resnet18) or path/to/file.py:callable"
        )
    if location.endswith(".py") or os.sep in location or os.path.exists(location):
        if not os.path.exists(location):
            raise UsageError(f"no file {location!r} (from target {target!r})")
        name = "_torch2jax_check_" + os.path.splitext(os.path.basename(location))[0]
        spec = importlib.util.spec_from_file_location(name, location)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(location)
        except ImportError as error:
            raise UsageError(f"cannot import {location!r}: {error}") from error
    obj = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise UsageError(f"{location!r} has no attribute {attribute!r}")
        obj = getattr(obj, part)
    return obj


def _needs_arguments(fn: Callable[..., Any]) -> bool:
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return True
    return any(
        p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        for p in signature.parameters.values()
    )


def build_target(obj: Any) -> tuple[Any, Any]:
    """``(module_or_function, example_inputs_or_None)`` from what the target names: a module, a
    module class or builder (called without arguments), a builder returning ``(model, inputs)``,
    or a function to check as it is."""
    if (
        isinstance(obj, type)
        and issubclass(obj, torch.nn.Module)
        or (callable(obj) and not isinstance(obj, torch.nn.Module) and not _needs_arguments(obj))
    ):
        name = getattr(obj, "__qualname__", repr(obj))
        try:
            obj = obj()
        except Exception as error:
            raise UsageError(
                f"calling {name}() to build the model failed ({type(error).__name__}: {error}); "
                f"point the target at a function that builds it without arguments"
            ) from error
    example_inputs = None
    if isinstance(obj, tuple) and len(obj) == 2 and callable(obj[0]):
        obj, example_inputs = obj
    if not callable(obj):
        raise UsageError(
            f"the target gave a {type(obj).__name__}; it should give an nn.Module or a function"
        )
    return obj, example_inputs


_DTYPES = {
    name: getattr(torch, name)
    for name in (
        "float16 bfloat16 float32 float64 int8 int16 int32 int64 uint8 bool complex64 complex128"
    ).split()
}
_DTYPES.update({"float": torch.float32, "double": torch.float64, "long": torch.int64})
_DTYPES.update({"half": torch.float16, "int": torch.int32})


@dataclasses.dataclass
class InputSpec:
    """``--input 1,3,224,224`` or ``--input 1,128:int64:30522`` (integers drawn below 30522)."""

    shape: tuple[int, ...]
    dtype: torch.dtype = torch.float32
    high: int = 16

    @classmethod
    def parse(cls, text: str) -> InputSpec:
        shape_text, _, rest = text.partition(":")
        dtype_text, _, high_text = rest.partition(":")
        try:
            shape = tuple(int(d) for d in shape_text.split(",") if d.strip())
        except ValueError:
            raise UsageError(
                f"--input {text!r}: the shape should be integers separated by commas, "
                f"like 1,3,224,224"
            ) from None
        dtype = _DTYPES.get(dtype_text or "float32")
        if dtype is None:
            raise UsageError(f"--input {text!r}: unknown dtype; one of {', '.join(_DTYPES)}")
        try:
            high = int(high_text) if high_text else 16
        except ValueError:
            raise UsageError(f"--input {text!r}: the bound after the dtype is an integer") from None
        return cls(shape, dtype, high)

    def make(self, generator: torch.Generator) -> torch.Tensor:
        if self.dtype == torch.bool:
            return torch.rand(self.shape, generator=generator) < 0.5
        if self.dtype.is_floating_point or self.dtype.is_complex:
            return torch.randn(self.shape, generator=generator, dtype=self.dtype)
        return torch.randint(0, self.high, self.shape, generator=generator, dtype=self.dtype)

    def __str__(self) -> str:
        return f"{str(self.dtype).removeprefix('torch.')}[{','.join(map(str, self.shape))}]"


def _as_call_inputs(inputs: Any) -> tuple[tuple, dict]:
    """Example inputs as ``(args, kwargs)``: a tensor, a tuple/list of arguments, a dict of keyword
    arguments, or ``(args, kwargs)``."""
    if isinstance(inputs, torch.Tensor):
        return (inputs,), {}
    if isinstance(inputs, dict):
        return (), dict(inputs)
    if (
        isinstance(inputs, tuple)
        and len(inputs) == 2
        and isinstance(inputs[0], (tuple, list))
        and isinstance(inputs[1], dict)
    ):
        return tuple(inputs[0]), dict(inputs[1])
    if isinstance(inputs, (tuple, list)):
        return tuple(inputs), {}
    raise UsageError(f"example inputs should be tensors, a tuple or a dict; got {type(inputs)}")


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return str(InputSpec(tuple(value.shape), value.dtype))
    return repr(value)


# --------------------------------------------------------------------------------------------------
# Comparisons and timing


def _float_leaves(tree: Any, is_torch: bool) -> list[np.ndarray]:
    leaves = torch_pytree.tree_leaves(tree) if is_torch else jax.tree_util.tree_leaves(tree)
    arrays = []
    for leaf in leaves:
        if isinstance(leaf, torch.Tensor):
            leaf = leaf.detach().cpu().resolve_conj()
            arrays.append(leaf.float().numpy() if leaf.dtype == torch.bfloat16 else leaf.numpy())
        elif isinstance(leaf, (jax.Array, np.ndarray)):
            arrays.append(
                np.asarray(leaf.astype(jnp.float32) if leaf.dtype == jnp.bfloat16 else leaf)
            )
    return arrays


@dataclasses.dataclass
class Comparison:
    """The largest absolute difference between two sets of arrays, against their scale."""

    max_abs_error: float
    max_abs_reference: float
    tolerance: float
    worst: str | None = None
    compared: int = 0
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.max_abs_error <= self.tolerance

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "ok": self.ok}


def compare(
    actual: Sequence[np.ndarray],
    expected: Sequence[np.ndarray],
    names: Sequence[str],
    atol: float,
    rtol: float,
) -> Comparison:
    if len(actual) != len(expected):
        return Comparison(
            float("inf"),
            0.0,
            0.0,
            note=f"JAX gave {len(actual)} arrays, PyTorch {len(expected)}",
        )
    error, scale, worst = 0.0, 0.0, None
    for name, a, e in zip(names, actual, expected, strict=True):
        if a.shape != e.shape:
            return Comparison(
                float("inf"), 0.0, 0.0, worst=name, note=f"shape {a.shape} != {e.shape}"
            )
        a64, e64 = a.astype(np.float64), e.astype(np.float64)
        if a64.size:
            nan_mismatch = np.isnan(a64) != np.isnan(e64)
            difference = np.where(np.isnan(a64) & np.isnan(e64), 0.0, np.abs(a64 - e64))
            leaf_error = float("inf") if nan_mismatch.any() else float(np.nanmax(difference))
            if leaf_error > error:
                error, worst = leaf_error, name
            finite = np.abs(e64[np.isfinite(e64)])
            scale = max(scale, float(finite.max()) if finite.size else 0.0)
    return Comparison(error, scale, atol + rtol * scale, worst, len(actual))


def median_seconds(run: Callable[[], Any], repeat: int, budget_s: float = 10.0) -> float:
    """Median wall time of ``run()`` over ``repeat`` calls, fewer once ``budget_s`` is spent."""
    times: list[float] = []
    while len(times) < max(repeat, 1) and (not times or sum(times) < budget_s):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _on_device(tree: Any, device: torch.device) -> Any:
    return torch_pytree.tree_map_only(torch.Tensor, lambda t: t.to(device), tree)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --------------------------------------------------------------------------------------------------
# The check


@dataclasses.dataclass
class CheckOptions:
    target: str
    inputs: list[str] = dataclasses.field(default_factory=list)
    inputs_from: str | None = None
    train: bool = False
    jit: bool = True
    grad: bool = False
    rng_seed: int = 0
    atol: float = 1e-5
    rtol: float = 1e-3
    repeat: int = 10
    torch_device: str = "cpu"


@dataclasses.dataclass
class CheckReport:
    target: str
    mode: str
    jit: bool
    inputs: list[str] = dataclasses.field(default_factory=list)
    ops: OpLog = dataclasses.field(default_factory=OpLog)
    outputs: Comparison | None = None
    gradients: Comparison | None = None
    timing: dict[str, float] = dataclasses.field(default_factory=dict)
    errors: list[str] = dataclasses.field(default_factory=list)
    random: bool = False
    devices: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def missing(self) -> list[str]:
        return [r.name for r in self.ops.missing]

    @property
    def ok(self) -> bool:
        comparisons_ok = all(c.ok for c in (self.outputs, self.gradients) if c is not None)
        return not self.errors and not self.missing and comparisons_ok

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "mode": self.mode,
            "jit": self.jit,
            "inputs": self.inputs,
            "ok": self.ok,
            "supported": not self.missing,
            "missing": self.missing,
            "ops": [r.as_dict() for r in self.ops.records.values()],
            "outputs": self.outputs.as_dict() if self.outputs else None,
            "gradients": self.gradients.as_dict() if self.gradients else None,
            "random": self.random,
            "timing": self.timing,
            "devices": self.devices,
            "errors": self.errors,
        }


def _error_text(error: Exception) -> str:
    """torch2jax's errors explain themselves; anything else comes with its traceback's end."""
    text = f"{type(error).__name__}: {error}"
    if isinstance(error, Torch2JaxError):
        return text
    frames = traceback.format_tb(error.__traceback__)[-6:]
    return "Traceback (last frames):\n" + "".join(frames) + text


def _differentiable_names(model: Any) -> list[str]:
    if not isinstance(model, torch.nn.Module):
        return []
    return [
        name
        for name, p in model.named_parameters()
        if p.requires_grad and (p.is_floating_point() or p.is_complex())
    ]


def run_check(options: CheckOptions, progress: ProgressReporter | None = None) -> CheckReport:
    """Check ``options.target``; usage problems raise ``UsageError``, the rest is in the report."""
    progress = progress or _Silent()
    target = options.target
    report = CheckReport(target, "train" if options.train else "eval", options.jit)
    with progress.step(f"Loading {target}"):
        model, example_inputs = build_target(load_object(target))
    is_module = isinstance(model, torch.nn.Module)
    was_training = model.training if is_module else None
    try:
        if is_module:
            model.train(options.train)
        args, kwargs = _check_inputs(options, example_inputs)
        report.inputs = [_describe(a) for a in args] + [
            f"{k}={_describe(v)}" for k, v in kwargs.items()
        ]
        _check_model(options, report, progress, model, args, kwargs)
    finally:
        if is_module:
            model.train(was_training)
    return report


def _check_inputs(options: CheckOptions, example_inputs: Any) -> tuple[tuple, dict]:
    if options.inputs:
        generator = torch.Generator().manual_seed(options.rng_seed)
        return tuple(InputSpec.parse(text).make(generator) for text in options.inputs), {}
    if options.inputs_from:
        make = load_object(options.inputs_from)
        return _as_call_inputs(make() if callable(make) else make)
    if example_inputs is not None:
        return _as_call_inputs(example_inputs)
    raise UsageError(
        "the target needs example inputs: pass --input SHAPE[:DTYPE] once per positional "
        "argument (--input 1,3,224,224, --input 1,128:int64:30522), or --inputs "
        "package.module:callable returning them"
    )


def _check_model(
    options: CheckOptions,
    report: CheckReport,
    progress: ProgressReporter,
    model: Any,
    args: tuple,
    kwargs: dict,
) -> None:
    is_module = isinstance(model, torch.nn.Module)
    device = torch.device(options.torch_device)
    reference = copy.deepcopy(model).to(device) if is_module else model
    torch_args, torch_kwargs = _on_device((args, kwargs), device)
    report.devices = {"pytorch": str(device), "jax": str(jax.devices()[0].platform)}
    with progress.step("Running PyTorch eagerly"), torch.no_grad():
        torch.manual_seed(options.rng_seed)
        try:
            expected = reference(*torch_args, **torch_kwargs)
        except Exception as error:
            raise UsageError(
                f"PyTorch itself fails on these inputs ({', '.join(report.inputs)}): "
                f"{type(error).__name__}: {error}"
            ) from error

    converted = t2j(model)
    params = {k: t2j(v) for k, v in model.state_dict(keep_vars=True).items()} if is_module else None
    jax_args, jax_kwargs = t2j(args), t2j(kwargs)
    key = jax.random.key(options.rng_seed)

    def call(params: Any, args: tuple, kwargs: dict, key: Any) -> Any:
        if is_module:
            return converted(*args, state_dict=params, rng=key, **kwargs)
        return converted(*args, rng=key, **kwargs)

    # Under jit, list the operations on abstract values (nothing is computed or compiled);
    # without jit, on the real ones, as the converted code will run.
    listing_run = functools.partial(jax.eval_shape, call) if options.jit else call
    with progress.step("Converting and listing PyTorch operations"):
        with recording(keep_going=True) as report.ops:
            try:
                jax.block_until_ready(listing_run(params, jax_args, jax_kwargs, key))
            except Exception as error:  # noqa: BLE001  (reported, not raised)
                report.errors.append(_error_text(error))
    if report.missing or report.errors:
        return

    run = jax.jit(call) if options.jit else call
    title = "Compiling with jax.jit" if options.jit else "Running the converted code (no jit)"
    with progress.step(title):
        start = time.perf_counter()
        try:
            actual = jax.block_until_ready(run(params, jax_args, jax_kwargs, key))
        except Exception as error:  # noqa: BLE001  (reported, not raised)
            report.errors.append(_error_text(error))
            return
        report.timing["jax_first_call_s"] = time.perf_counter() - start
        other_key = jax.block_until_ready(
            run(params, jax_args, jax_kwargs, jax.random.key(options.rng_seed + 1))
        )
    report.random = not all(
        np.array_equal(a, b, equal_nan=True)
        for a, b in zip(_float_leaves(actual, False), _float_leaves(other_key, False), strict=True)
    )
    names = [f"output {i}" for i in range(len(_float_leaves(expected, True)))]
    report.outputs = compare(
        _float_leaves(actual, False),
        _float_leaves(expected, True),
        names,
        options.atol,
        options.rtol,
    )
    if report.random:
        report.outputs.note = (
            "the outputs depend on the random key (dropout or another random op), and PyTorch "
            "draws different numbers: compared for shapes only"
        )
        report.outputs.max_abs_error = 0.0

    with progress.step(f"Timing PyTorch eager and JAX ({options.repeat} runs each)"):
        with torch.no_grad():

            def run_pytorch() -> None:
                reference(*torch_args, **torch_kwargs)
                _synchronize(device)

            run_pytorch()
            report.timing["pytorch_eager_s"] = median_seconds(run_pytorch, options.repeat)
        report.timing["jax_jit_s" if options.jit else "jax_eager_s"] = median_seconds(
            lambda: jax.block_until_ready(run(params, jax_args, jax_kwargs, key)), options.repeat
        )

    if options.grad:
        with progress.step("Comparing gradients"):
            try:
                report.gradients = _compare_gradients(
                    options, model, call, params, args, kwargs, jax_args, jax_kwargs, key
                )
            except Exception as error:  # noqa: BLE001  (reported, not raised)
                report.errors.append(_error_text(error))
                return
            if report.random:
                report.gradients.note = "depends on the random key: compared for shapes only"
                report.gradients.max_abs_error = 0.0


def _compare_gradients(
    options: CheckOptions,
    model: Any,
    call: Callable[..., Any],
    params: Any,
    args: tuple,
    kwargs: dict,
    jax_args: tuple,
    jax_kwargs: dict,
    key: Any,
) -> Comparison:
    """Gradients of ``sum(output * cotangent)`` (fixed random cotangents) with respect to the
    parameters and the floating-point positional inputs, in both libraries."""
    names = _differentiable_names(model)
    float_inputs = [i for i, a in enumerate(args) if torch.is_tensor(a) and a.is_floating_point()]

    device = torch.device(options.torch_device)
    reference = copy.deepcopy(model).to(device) if isinstance(model, torch.nn.Module) else model
    torch_args = [
        a.detach().to(device).requires_grad_(i in float_inputs) if torch.is_tensor(a) else a
        for i, a in enumerate(args)
    ]
    torch.manual_seed(options.rng_seed)
    outputs = torch_pytree.tree_leaves(reference(*torch_args, **_on_device(kwargs, device)))
    float_outputs = [o for o in outputs if torch.is_tensor(o) and o.is_floating_point()]
    generator = np.random.default_rng(options.rng_seed)
    cotangents = [
        generator.standard_normal(tuple(o.shape)).astype(np.float32) for o in float_outputs
    ]
    loss = sum(
        (o * torch.from_numpy(c).to(o.device, o.dtype)).sum()
        for o, c in zip(float_outputs, cotangents, strict=True)
    )
    differentiable = [reference.get_parameter(n) for n in names] + [
        torch_args[i] for i in float_inputs
    ]
    expected = torch.autograd.grad(loss, differentiable, allow_unused=True)
    expected = [
        torch.zeros_like(d) if g is None else g
        for d, g in zip(differentiable, expected, strict=True)
    ]

    def jax_loss(diff_params: dict, diff_inputs: list) -> Any:
        all_args = list(jax_args)
        for i, value in zip(float_inputs, diff_inputs, strict=True):
            all_args[i] = value
        merged = {**params, **diff_params} if params is not None else None
        leaves = jax.tree_util.tree_leaves(call(merged, tuple(all_args), jax_kwargs, key))
        floats = [o for o in leaves if jnp.issubdtype(o.dtype, jnp.floating)]
        return sum(
            jnp.sum(o * jnp.asarray(c, o.dtype)) for o, c in zip(floats, cotangents, strict=True)
        )

    grad = jax.grad(jax_loss, argnums=(0, 1))
    if options.jit:
        grad = jax.jit(grad)
    param_grads, input_grads = grad(
        {n: params[n] for n in names}, [jax_args[i] for i in float_inputs]
    )
    actual = [param_grads[n] for n in names] + list(input_grads)
    labels = names + [f"input {i}" for i in float_inputs]
    return compare(
        _float_leaves(actual, False),
        _float_leaves(expected, True),
        labels,
        options.atol,
        options.rtol,
    )


# --------------------------------------------------------------------------------------------------
# Reports


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1e3:.2f} ms" if value < 1 else f"{value:.2f} s"


def format_report(report: CheckReport) -> str:
    lines = [
        f"torch2jax check {report.target}",
        f"  mode: {report.mode}, {'jit' if report.jit else 'no jit'}; "
        f"inputs: {', '.join(report.inputs) or 'none'}",
        "",
    ]
    records = list(report.ops.records.values())
    calls = sum(r.count for r in records)
    lines.append(
        f"PyTorch operations met: {len(records)} kinds, {calls} calls; "
        f"{len(records) - len(report.missing)} supported, {len(report.missing)} missing"
    )
    width = max([len(r.name) for r in records] + [10])
    for record in records:
        status = "MISSING" if record.how == MISSING else "ok"
        called = f"  via {record.api_call}" if record.api_call else ""
        lines.append(
            f"  {status:8}{record.name:{width}}  {record.count:5}x  {record.how:13}{called}"
        )
        if record.how == MISSING and record.source_line:
            lines.append(f"  {'':8}at {record.source_line}")
    if report.missing:
        first = report.ops.missing[0]
        schema = _schema_of(first.name)
        lines += [
            "",
            f"{len(report.missing)} operation(s) have no JAX lowering. Add one with @implements "
            f"before converting, e.g.:",
            "",
            _lowering_stub(first.name, schema).rstrip(),
        ]
    lines.append("")
    for title, comparison in (("outputs", report.outputs), ("gradients", report.gradients)):
        if comparison is None:
            continue
        verdict = "OK" if comparison.ok else "DIFFERS"
        text = (
            f"{title}: max abs error {comparison.max_abs_error:.2e} "
            f"(largest |value| {comparison.max_abs_reference:.3g}, tolerance "
            f"{comparison.tolerance:.1e}) over {comparison.compared} arrays"
        )
        if comparison.worst and not comparison.ok:
            text += f", worst: {comparison.worst}"
        lines.append(f"{text}  {verdict}")
        if comparison.note:
            lines.append(f"  note: {comparison.note}")
    timing = report.timing
    if "pytorch_eager_s" in timing:
        jax_key = "jax_jit_s" if report.jit else "jax_eager_s"
        ratio = timing["pytorch_eager_s"] / max(timing[jax_key], 1e-12)
        devices = report.devices
        lines.append(
            f"time per call: PyTorch eager ({devices.get('pytorch')}) "
            f"{_seconds(timing['pytorch_eager_s'])}, JAX {'jit' if report.jit else 'eager'} "
            f"({devices.get('jax')}) {_seconds(timing[jax_key])} "
            f"({ratio:.2f}x PyTorch's speed); first JAX call (tracing"
            f"{' and compiling' if report.jit else ''}) {_seconds(timing['jax_first_call_s'])}"
        )
    for error in report.errors:
        lines += ["", "error:", *("  " + line for line in error.splitlines())]
    lines.append("")
    if report.ok:
        lines.append("result: OK, the model runs in JAX and matches PyTorch")
    elif report.missing:
        lines.append("result: UNSUPPORTED operations (listed above)")
    elif report.errors:
        lines.append("result: FAILED (see the error above)")
    else:
        lines.append("result: DIFFERS from PyTorch beyond the tolerance (--atol/--rtol)")
    return "\n".join(lines)


def _schema_of(name: str) -> Any:
    namespace, _, rest = name.partition(".")
    packet_name, _, overload = rest.partition(".")
    try:
        packet = getattr(getattr(torch.ops, namespace), packet_name)
        return getattr(packet, overload or "default")._schema
    except (AttributeError, RuntimeError):
        return None
