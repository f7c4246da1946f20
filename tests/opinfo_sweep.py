"""The OpInfo sweep: every entry of PyTorch's ``op_db`` through t2j, compared with PyTorch.

For each entry and each of float32, int64 and bool that the entry supports on CPU, every sample
input (or the first few, in the sampled run) runs in PyTorch and through ``t2j``, eagerly and under
``jax.jit`` (non-tensor arguments static), with ``jax_enable_x64`` on; the int64 samples run again
under jit with x64 off. Float32 entries that support autograd also compare ``jax.grad`` of the sum
of the floating outputs with ``torch.autograd``.

``tests/test_opinfo.py`` runs this under pytest; ``python -m tests.opinfo_sweep [--full]`` runs it
as a script, prints the summary, writes ``docs/coverage.md`` and lists every failure.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import runpy
import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch
import torch.utils._pytree as torch_pytree

from tests.conftest import x64_set
from torch2jax import t2j
from torch2jax.convert import JAX_TO_TORCH_DTYPE
from torch2jax.errors import ConcretizationError, DataDependentShapeError

jax.config.update("jax_platforms", "cpu")
# The sweep records failures by the thousand: JAX's traceback filtering costs more than the ops.
jax.config.update("jax_traceback_filtering", "off")

DTYPES = (torch.float32, torch.int64, torch.bool)
MODES = ("eager", "jit", "grad", "x64_off")
REPORT_PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "docs", "coverage.md")

# --------------------------------------------------------------------------------------------------
# What the sweep does not test, and the entries it treats specially

SKIPPED: dict[str, str] = {
    "to_sparse": "sparse layout: JAX arrays are dense (jax.experimental.sparse is a separate type)",
    "sparse.mm.reduce": "sparse layout (CSR input)",
    "sparse.sampled_addmm": "sparse layout (CSR output)",
    "chalf": "complex32: JAX has no complex32 dtype",
    "jiterator_2inputs_2outputs": "device-only: CUDA jiterator kernel",
    "jiterator_4inputs_with_extra_args": "device-only: CUDA jiterator kernel",
    "jiterator_binary": "device-only: CUDA jiterator kernel",
    "jiterator_binary_return_by_ref": "device-only: CUDA jiterator kernel",
    "jiterator_unary": "device-only: CUDA jiterator kernel",
    "bmm.triton_optimized": "device-only: Triton kernel",
    "torch._scaled_mm": "device-only: float8 scaled matmul (CUDA)",
    "torch._scaled_mm_v2": "device-only: float8 scaled matmul (CUDA)",
    "torch.ops.aten._flash_attention_forward": "device-only: CUDA flash attention kernel",
    "torch.ops.aten._efficient_attention_forward": "device-only: CUDA memory-efficient attention",
    "resize_": "resizes storage in place: the new elements are uninitialized memory and JAX "
    "arrays have no storage to resize",
    "resize_as_": "resizes storage in place: the new elements are uninitialized memory and JAX "
    "arrays have no storage to resize",
}

# Random draws: only shapes and dtypes are compared, and the conversion gets a PRNG key.
RANDOM = {
    "bernoulli",
    "cauchy",
    "exponential",
    "geometric",
    "log_normal",
    "multinomial",
    "normal",
    "normal.in_place",
    "normal.number_mean",
    "uniform",
    "rand_like",
    "randint",
    "randint_like",
    "randn",
    "randn_like",
    "nn.functional.dropout",
    "nn.functional.dropout2d",
    "nn.functional.dropout3d",
    "nn.functional.alpha_dropout",
    "nn.functional.feature_alpha_dropout.with_train",
    "nn.functional.rrelu",
    # Its gradient samples (the sampled run's first) apply dropout 0.5 in training mode.
    "nn.functional.multi_head_attention_forward",
    "nn.functional.fractional_max_pool2d",
    "nn.functional.fractional_max_pool3d",
    "svd_lowrank",
    "pca_lowrank",
}


def requests_dropout(kwargs: dict[str, Any]) -> bool:
    """Whether a sample of an otherwise deterministic entry asks for dropout (a random draw)."""
    return (kwargs.get("dropout_p") or 0) > 0


# Uninitialized memory: only shapes and dtypes are meaningful.
UNINITIALIZED = {
    "empty",
    "empty_like",
    "empty_permuted",
    "empty_strided",
    "new_empty",
    "new_empty_strided",
}

# Output shape depends on the data: must work eagerly and raise DataDependentShapeError under jit.
DATA_DEPENDENT = {
    "nonzero",
    "argwhere",
    "masked_select",
    "unique",
    "unique_consecutive",
    "repeat_interleave",
    "bincount",
    "__getitem__",
    "index_put",
    "tensor_split",
    "nn.functional.one_hot",
}

# Returns a Python value read from a tensor: must work eagerly and raise ConcretizationError
# under jit.
PYTHON_VALUE = {"item", "equal", "allclose"}

# Indices are ambiguous on ties: compare the values only (the first output).
VALUES_ONLY = {
    "sort",
    "topk",
    "mode",
    "kthvalue",
    "median",
    "nanmedian",
    "cummax",
    "cummin",
    "max.reduction_with_dim",
    "min.reduction_with_dim",
    "nn.functional.max_pool1d",
    "nn.functional.max_pool2d",
    "nn.functional.max_pool3d",
    "nn.functional.adaptive_max_pool1d",
    "nn.functional.adaptive_max_pool2d",
    "nn.functional.adaptive_max_pool3d",
}

# Factors unique only up to signs (phases) of singular/eigen vectors: compare the values part.
FIRST_OUTPUT_ONLY = {"linalg.eigh": 0, "linalg.eig": 0, "linalg.svd": 1, "svd": 1}

# Index orders are ambiguous on ties: compare the input gathered by the indices.
GATHERED_INDICES = {"argsort"}


# --------------------------------------------------------------------------------------------------
# Results


@dataclasses.dataclass
class EntryResult:
    """Per mode: "pass", "fail" or "n/a" (the mode does not apply); the first failure's message."""

    name: str
    status: dict[str, str] = dataclasses.field(default_factory=dict)
    message: dict[str, str] = dataclasses.field(default_factory=dict)
    samples: int = 0
    seconds: float = 0.0

    def record(self, mode: str, error: BaseException | None) -> None:
        if error is None:
            self.status.setdefault(mode, "pass")
        elif self.status.get(mode) != "fail":
            self.status[mode] = "fail"
            lines = [line.strip() for line in f"{type(error).__name__}: {error}".splitlines()]
            self.message[mode] = " ".join(line for line in lines[:4] if line)[:300]

    def get(self, mode: str) -> str:
        return self.status.get(mode, "n/a")


class EntryTimeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: int | None) -> Iterator[None]:
    if not seconds or not hasattr(signal, "SIGALRM"):
        yield
        return

    def on_alarm(signum, frame):
        raise EntryTimeout(f"took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --------------------------------------------------------------------------------------------------
# Running one sample


def _detached_copy(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.detach().clone().requires_grad_(x.requires_grad)
    return x


def _array(tensor: torch.Tensor) -> Any:
    # A copy: the PyTorch run may mutate its inputs in place.
    return jnp.array(t2j(tensor.detach().clone()))


@dataclasses.dataclass
class Call:
    """One sample as a function of its tensors; the other arguments are closed over (static)."""

    op: Callable[..., Any]
    leaves: list[Any]
    spec: Any
    tensor_positions: list[int]
    output_process: Callable[[Any], Any] | None = None
    # A random draw (a RANDOM entry, or a sample that requests dropout): shapes and dtypes are
    # compared, and the conversion gets a PRNG key.
    random: bool = False

    @classmethod
    def of(cls, op: Any, sample: Any, for_grad: bool = False) -> Call:
        leaves, spec = torch_pytree.tree_flatten((sample.input, sample.args, sample.kwargs))
        positions = [i for i, leaf in enumerate(leaves) if isinstance(leaf, torch.Tensor)]
        process = sample.output_process_fn_grad if for_grad else None
        random = op.full_name in RANDOM or requests_dropout(sample.kwargs)
        return cls(op, leaves, spec, positions, process, random)

    def __call__(self, *tensors: Any) -> Any:
        filled = list(self.leaves)
        for position, tensor in zip(self.tensor_positions, tensors, strict=True):
            filled[position] = tensor
        inp, args, kwargs = torch_pytree.tree_unflatten(filled, self.spec)
        out = self.op(inp, *args, **kwargs)
        return self.output_process(out) if self.output_process is not None else out

    def tensors(self) -> list[torch.Tensor]:
        return [self.leaves[i] for i in self.tensor_positions]

    def run_torch(self) -> tuple[Any, list[torch.Tensor]]:
        inputs = [_detached_copy(t) for t in self.tensors()]
        return self(*inputs), inputs


def _to_torch(a: Any) -> torch.Tensor:
    if np.dtype(a.dtype) == jnp.bfloat16:  # NumPy has no bfloat16 that PyTorch reads
        return torch.from_numpy(np.array(a, np.float32)).to(torch.bfloat16)
    return torch.from_numpy(np.array(a))


def _compare_leaf(actual: Any, expected: Any, exact_dtype: bool, shape_only: bool) -> None:
    if not isinstance(expected, torch.Tensor):
        if isinstance(actual, (jax.Array, np.ndarray)) and np.ndim(actual) == 0:
            actual = actual.item()
        if isinstance(expected, float) and np.isnan(expected):
            assert isinstance(actual, float) and np.isnan(actual), (actual, expected)
        else:
            assert actual == expected, f"{actual!r} != {expected!r}"
        return
    if not isinstance(actual, (jax.Array, np.ndarray, np.generic)):
        raise AssertionError(f"expected a tensor, got {type(actual).__name__}")
    expected = expected.detach().resolve_conj().resolve_neg()
    actual_dtype = JAX_TO_TORCH_DTYPE[np.dtype(actual.dtype)]
    if exact_dtype:
        assert actual_dtype == expected.dtype, f"dtype {actual_dtype} != {expected.dtype}"
    assert tuple(actual.shape) == tuple(expected.shape), (
        f"shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    )
    if shape_only:
        return
    actual = _to_torch(actual)
    if not exact_dtype and actual.dtype != expected.dtype:
        # x64 off: 64-bit results come back 32-bit; compare the values.
        if actual.dtype.is_floating_point or actual.dtype.is_complex:
            expected = expected.to(actual.dtype)
        else:
            actual = actual.to(expected.dtype)
    torch.testing.assert_close(actual, expected, equal_nan=True, check_dtype=exact_dtype)


def compare(
    name: str, actual: Any, expected: Any, inputs: list[Any], exact_dtype: bool, random: bool
) -> None:
    """A t2j result against PyTorch's: leaf by leaf, with the entry's special rules."""
    shape_only = random or name in UNINITIALIZED
    if name in VALUES_ONLY and isinstance(expected, (tuple, list)):
        actual, expected = actual[0], expected[0]
    if name in FIRST_OUTPUT_ONLY and isinstance(expected, (tuple, list)):
        index = FIRST_OUTPUT_ONLY[name]
        actual, expected = actual[index], expected[index]
    if name in GATHERED_INDICES and not shape_only:
        source = inputs[0].detach()
        dim = _argsort_dim(expected, source)
        expected = torch.take_along_dim(source, expected, dim)
        actual = torch.take_along_dim(source, _to_torch(actual).to(torch.int64), dim)
        torch.testing.assert_close(actual, expected, equal_nan=True)
        return
    expected_leaves, expected_spec = torch_pytree.tree_flatten(expected)
    actual_leaves, actual_spec = torch_pytree.tree_flatten(actual)
    assert len(actual_leaves) == len(expected_leaves), (
        f"{len(actual_leaves)} outputs, expected {len(expected_leaves)}"
    )
    for a, e in zip(actual_leaves, expected_leaves, strict=True):
        _compare_leaf(a, e, exact_dtype, shape_only)


def _argsort_dim(indices: torch.Tensor, source: torch.Tensor) -> int | None:
    return None if source.ndim == 0 else -1


def _converted(call: Call) -> Callable[..., Any]:
    converted = t2j(call)
    key = jax.random.key(0) if call.random else None
    return (lambda *arrays: converted(*arrays, rng=key)) if key is not None else converted


def _float_output_positions(leaves: list[Any]) -> list[int]:
    return [
        i
        for i, leaf in enumerate(leaves)
        if isinstance(leaf, torch.Tensor)
        and leaf.requires_grad
        and (leaf.dtype.is_floating_point or leaf.dtype.is_complex)
    ]


def _torch_sum(leaf: torch.Tensor) -> torch.Tensor:
    # Real and imaginary parts summed apart: view_as_real's backward fails on an empty complex
    # tensor ("Tensor must have a last dimension with stride 1"), a PyTorch limitation.
    return leaf.real.sum() + leaf.imag.sum() if leaf.dtype.is_complex else leaf.sum()


def _jax_sum(leaf: Any) -> Any:
    if jnp.iscomplexobj(leaf):
        return jnp.sum(leaf.real) + jnp.sum(leaf.imag)
    return jnp.sum(leaf)


@dataclasses.dataclass
class GradCase:
    """PyTorch's gradients of one sample, and the JAX function whose gradient must match them."""

    expected: list[torch.Tensor]
    loss: Callable[..., Any]
    diff: list[int]
    random: bool

    @classmethod
    def of(cls, name: str, call: Call) -> GradCase | None:
        """None where the sample has no floating output that depends on a differentiable input."""
        tensors = call.tensors()
        diff = [
            i
            for i, t in enumerate(tensors)
            if t.requires_grad and (t.dtype.is_floating_point or t.dtype.is_complex)
        ]
        if not diff:
            return None
        with torch.enable_grad():
            out, inputs = call.run_torch()
        if name in FIRST_OUTPUT_ONLY and isinstance(out, (tuple, list)):
            # Sign-ambiguous factors: differentiate the well-defined part only.
            keep = FIRST_OUTPUT_ONLY[name]
            out = tuple(o if i == keep else None for i, o in enumerate(out))
        out_leaves = torch_pytree.tree_leaves(out)
        positions = _float_output_positions(out_leaves)
        if not positions:
            return None
        total = sum(_torch_sum(out_leaves[i]) for i in positions)
        grads = torch.autograd.grad(total, [inputs[i] for i in diff], allow_unused=True)
        expected = [
            torch.zeros_like(inputs[i]) if g is None else g
            for i, g in zip(diff, grads, strict=True)
        ]
        converted = _converted(call)

        def loss(arrays: list[Any], diff_arrays: list[Any]) -> Any:
            filled = list(arrays)
            for i, a in zip(diff, diff_arrays, strict=True):
                filled[i] = a
            result = converted(*filled)
            if name in FIRST_OUTPUT_ONLY and isinstance(result, (tuple, list)):
                keep = FIRST_OUTPUT_ONLY[name]
                result = tuple(o if i == keep else None for i, o in enumerate(result))
            leaves = torch_pytree.tree_leaves(result)
            return sum(_jax_sum(leaves[i]) for i in positions)

        return cls(expected, loss, diff, call.random)

    def gradients(self, arrays: list[Any]) -> Any:
        return jax.grad(self.loss, argnums=1)(arrays, [arrays[i] for i in self.diff])

    def compare(self, actual: list[Any]) -> None:
        for a, e in zip(actual, self.expected, strict=True):
            _compare_leaf(a, e, exact_dtype=True, shape_only=self.random)


def _outcome(check: Callable[[], None]) -> BaseException | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            check()
    except EntryTimeout:
        raise
    except Exception as error:  # noqa: BLE001 - every failure is recorded, none stops the sweep
        return error
    return None


def check_eager(name: str, call: Call) -> None:
    expected, inputs = call.run_torch()
    actual = _converted(call)(*[_array(t) for t in call.tensors()])
    compare(name, actual, expected, inputs, exact_dtype=True, random=call.random)


def check_jit(name: str, call: Call, exact_dtype: bool = True) -> None:
    expected, inputs = call.run_torch()
    arrays = [_array(t) for t in call.tensors()]
    jitted = jax.jit(_converted(call))
    expected_error = (
        DataDependentShapeError
        if name in DATA_DEPENDENT
        else ConcretizationError
        if name in PYTHON_VALUE
        else ()
    )
    try:
        actual = jitted(*arrays)
    except expected_error:
        return  # the clear error this entry must give under jit
    compare(name, actual, expected, inputs, exact_dtype, random=call.random)


_INT32 = torch.iinfo(torch.int32)


def _holds_int32(leaf: Any) -> bool:
    if isinstance(leaf, torch.Tensor):
        if leaf.dtype != torch.int64 or leaf.numel() == 0:
            return True
        return _INT32.min <= leaf.min().item() and leaf.max().item() <= _INT32.max
    if isinstance(leaf, int) and not isinstance(leaf, bool):
        return _INT32.min <= leaf <= _INT32.max
    return True


def fits_32_bits(name: str, call: Call) -> bool:
    """Whether the x64-off check applies to an int64 sample: its integers fit in 32 bits.

    With x64 off, int64 values become int32 ones (as JAX makes them), so a sample whose inputs
    or PyTorch results hold values outside int32's range (OpInfo's extremal-value samples,
    results that overflow 32 bits) has no 32-bit counterpart to compare.
    """
    if call.random or name in UNINITIALIZED:
        return True
    try:
        expected, _ = call.run_torch()
    except Exception:  # noqa: BLE001 - PyTorch rejects the sample: the check itself reports it
        return True
    leaves = call.leaves + torch_pytree.tree_leaves(expected)
    return all(_holds_int32(leaf) for leaf in leaves)


def check_jit_and_grad(name: str, call: Call, grad_call: Call) -> dict[str, BaseException | None]:
    """The jit and grad modes of one float32 sample, compiled together (one XLA compile).

    Where the joint compile fails, each mode runs on its own (the gradient eagerly), so that
    each failure is charged to the mode that has it.
    """
    error = None
    try:
        case = GradCase.of(name, grad_call)
    except Exception as e:  # noqa: BLE001 - PyTorch itself cannot differentiate this sample
        case, error = None, e
    if case is None:
        return {"jit": _outcome(lambda: check_jit(name, call))} | (
            {"grad": error} if error is not None else {}
        )
    expected, inputs = call.run_torch()
    arrays = [_array(t) for t in call.tensors()]
    converted = _converted(call)

    def both(arrays: list[Any]) -> Any:
        return converted(*arrays), case.gradients(arrays)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            actual, grads = jax.jit(both)(arrays)
    except EntryTimeout:
        raise
    except Exception:  # noqa: BLE001 - attribute the failure to its mode below
        return {
            "jit": _outcome(lambda: check_jit(name, call)),
            "grad": _outcome(lambda: case.compare(case.gradients(arrays))),
        }
    return {
        "jit": _outcome(
            lambda: compare(name, actual, expected, inputs, exact_dtype=True, random=call.random)
        ),
        "grad": _outcome(lambda: case.compare(grads)),
    }


# --------------------------------------------------------------------------------------------------
# Running one entry


def _samples(op: Any, dtype: torch.dtype, requires_grad: bool, limit: int | None) -> list[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        samples = []
        for sample in op.sample_inputs("cpu", dtype, requires_grad=requires_grad):
            samples.append(sample)
            if limit is not None and len(samples) >= limit:
                break
    return samples


def run_entry(op: Any, full: bool, timeout: int | None = None) -> EntryResult:
    """Every applicable mode of one OpInfo entry (first failure per mode recorded).

    The sampled run takes one sample of the entry's first dtype among float32, int64 and bool;
    the full run takes every dtype and up to ``max_samples()`` samples of each.
    """
    name = op.full_name
    result = EntryResult(name)
    start = time.perf_counter()
    supported = op.supported_dtypes("cpu")
    dtypes = [d for d in DTYPES if d in supported]
    if not full:
        dtypes = dtypes[:1]
    limit = max_samples() if full else 1
    try:
        with time_limit(timeout), x64_set(True):
            for dtype in dtypes:
                grad = dtype == torch.float32 and op.supports_autograd
                samples = _samples(op, dtype, grad, limit)
                result.samples += len(samples)
                for sample in samples:
                    call = Call.of(op, sample)
                    result.record("eager", _outcome(lambda c=call: check_eager(name, c)))
                    if grad:
                        grad_call = Call.of(op, sample, for_grad=True)
                        for mode, error in check_jit_and_grad(name, call, grad_call).items():
                            result.record(mode, error)
                    else:
                        result.record("jit", _outcome(lambda c=call: check_jit(name, c)))
                    if dtype == torch.int64 and fits_32_bits(name, call):
                        with x64_set(False):
                            error = _outcome(lambda c=call: check_jit(name, c, exact_dtype=False))
                        result.record("x64_off", error)
    except EntryTimeout as error:
        for mode in MODES:
            result.record(mode, error)
    result.seconds = time.perf_counter() - start
    return result


# Samples per dtype in the full run. PyTorch's uncapped sample lists run to hundreds for some
# entries (hours of CPU); the comparison numbers of the coverage issue cap them at 8 as well.
FULL_SAMPLES = 8


def max_samples() -> int | None:
    """Samples per dtype in the full run: ``T2J_OPINFO_SAMPLES`` (default 8; 0: every sample)."""
    value = int(os.environ.get("T2J_OPINFO_SAMPLES") or FULL_SAMPLES)
    return value or None


def entry_timeout(full: bool) -> int:
    """Seconds one entry may take (all its dtypes, samples and modes) before it counts as failed."""
    return 300 if full else 120


def entries() -> list[Any]:
    """The op_db entries, by name (``full_name`` is unique)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.testing._internal import common_utils
        from torch.testing._internal.common_methods_invocations import op_db

    # Sample inputs look for the running unittest by walking the stack with source lookups
    # (inspect.stack), which costs more than running the sample; the sweep is not a unittest.
    common_utils.extract_test_fn = lambda: None
    return sorted(op_db, key=lambda op: op.full_name)


def tested(op: Any) -> bool:
    return op.full_name not in SKIPPED and any(d in op.supported_dtypes("cpu") for d in DTYPES)


# --------------------------------------------------------------------------------------------------
# The report


def summary(results: list[EntryResult]) -> dict[str, tuple[int, int]]:
    """Per mode: (passing entries, entries the mode applies to)."""
    counts = {}
    for mode in MODES:
        applicable = [r for r in results if r.get(mode) != "n/a"]
        counts[mode] = (sum(r.get(mode) == "pass" for r in applicable), len(applicable))
    return counts


def summary_text(results: list[EntryResult]) -> str:
    counts = summary(results)
    with_samples = sum(1 for r in results if r.samples)
    parts = [f"OpInfo: {with_samples} entries with samples"]
    parts += [f"{mode} {p}/{n}" for mode, (p, n) in counts.items()]
    return ", ".join(parts)


Failures = dict[str, dict[str, str]]


def failures(results: list[EntryResult]) -> Failures:
    """Entry -> failing mode -> the first error, shortened (the expected-failure table's form)."""
    found = {}
    for r in results:
        failing = {m: _reason(r.message[m]) for m in MODES if r.get(m) == "fail"}
        if failing:
            found[r.name] = failing
    return found


def beyond(found: Failures, known: Failures) -> Failures:
    """The entry/mode pairs of ``found`` that ``known`` does not list."""
    extra = {}
    for name, modes in found.items():
        new = {m: reason for m, reason in modes.items() if m not in known.get(name, {})}
        if new:
            extra[name] = new
    return extra


# Each run rewrites its own section of docs/coverage.md and keeps the other run's.
_SECTION_NAMES = {False: "sampled run", True: "full run"}


def _section_marks(full: bool) -> tuple[str, str]:
    name = _SECTION_NAMES[full]
    return f"<!-- {name}: written by that run, kept by the other -->", f"<!-- end of {name} -->"


def _kept_section(path: str, full: bool) -> list[str]:
    """The section of ``path`` that a run of the other kind wrote, or a placeholder."""
    begin, end = _section_marks(full)
    text = open(path).read() if os.path.exists(path) else ""
    if begin in text and end in text:
        return text[text.index(begin) : text.index(end) + len(end)].split("\n")
    title = "Full run" if full else "Sampled run"
    return [begin, f"## {title}", "", "Not run yet.", end]


def _run_description(full: bool) -> str:
    if not full:
        return (
            "the first sample of each entry's first dtype among float32, int64, bool (the form "
            "`make test` runs)"
        )
    limit = max_samples()
    samples = f"at most {limit} samples of each" if limit else "every sample of each"
    return (
        f"every dtype among float32, int64, bool that the entry supports, {samples} "
        "(`T2J_OPINFO_SAMPLES=n` sets the cap, 0 runs every sample; the form `make test-full` "
        "runs)"
    )


def _failure_rows(found: Failures, results: list[EntryResult]) -> list[str]:
    messages = {r.name: r.message for r in results}
    rows = ["| entry | mode | first failure |", "|---|---|---|"]
    for name, modes in found.items():
        for mode in modes:
            message = re.sub(r" at /\S+:\d+", "", messages[name][mode]).replace("|", "\\|")
            rows.append(f"| `{name}` | {mode} | {message} |")
    return rows


def _run_section(results: list[EntryResult], full: bool, seconds: float) -> list[str]:
    counts = summary(results)
    begin, end = _section_marks(full)
    samples = sum(r.samples for r in results)
    limit = max_samples()
    title = (
        f"## Full run (`make test-full`, at most {limit} samples per dtype)"
        if full and limit
        else "## Full run (`make test-full`, every sample)"
        if full
        else "## Sampled run (`make test`)"
    )
    lines = [
        begin,
        title,
        "",
        f"Run: {_run_description(full)}: {samples} samples, {seconds:.0f} s on one core of the "
        "2-core development machine (shared with other jobs).",
        "",
        "| | entries passing |",
        "|---|---|",
        f"| eager (x64 on) | {counts['eager'][0]} / {counts['eager'][1]} |",
        f"| `jax.jit` (x64 on) | {counts['jit'][0]} / {counts['jit'][1]} |",
        f"| gradients (float32) | {counts['grad'][0]} / {counts['grad'][1]} |",
        f"| int64 under `jax.jit`, x64 off | {counts['x64_off'][0]} / {counts['x64_off'][1]} |",
        "",
    ]
    found = failures(results)
    if full:
        sampled, _ = load_expected_failures()
        lines += [
            "### Failures beyond the sampled run",
            "",
            "What only the other dtypes and samples find (the sampled run's failures, listed "
            "above, fail here too): `EXPECTED_FAILURES_FULL` in "
            "`tests/opinfo_expected_failures.py`.",
            "",
        ]
        lines += _failure_rows(beyond(found, sampled), results)
    else:
        lines += ["### Failing entries", ""]
        lines += _failure_rows(found, results)
    return [*lines, end]


def write_report(results: list[EntryResult], full: bool, seconds: float, path: str) -> None:
    """docs/coverage.md: this run's section rewritten, the other kind of run's section kept."""
    with_samples = [r for r in results if r.samples]
    runs = {full: _run_section(results, full, seconds), not full: _kept_section(path, not full)}
    lines = [
        "# OpInfo coverage",
        "",
        "Generated by `tests/opinfo_sweep.py` (the OpInfo sweep of `tests/test_opinfo.py`); do not "
        "edit by hand. Each kind of run rewrites its own section and keeps the other's: "
        "`python -m tests.opinfo_sweep --update-expected` (the sampled run) and "
        "`python -m tests.opinfo_sweep --full --update-expected` (the full run; `--json=FILE` "
        "keeps the results, resumes an interrupted run and, with entry names, re-runs those "
        "entries over the kept ones) also rewrite their part of "
        "`tests/opinfo_expected_failures.py`.",
        "",
        "PyTorch's operator database (`torch.testing._internal.common_methods_invocations.op_db`, "
        f"torch {torch.__version__}, jax {jax.__version__}) run through `t2j` and compared with "
        "PyTorch on CPU: float32, int64 and bool samples, eagerly and under `jax.jit` with "
        "`jax_enable_x64` on; int64 again under `jax.jit` with x64 off; `jax.grad` of the sum of "
        "the floating outputs against `torch.autograd` for float32 entries that support autograd. "
        "An entry passes a mode when every one of its samples does.",
        "",
        f"Entries: {len(with_samples)} tested (CPU samples in float32/int64/bool), "
        f"{len(SKIPPED)} skipped.",
        "",
        "Gradients are compiled together with the jit check (eagerly where that fails). The x64-off "
        "row counts the entries whose tested samples include int64 ones (in the sampled run, the "
        "entries with no float32 support) whose integers, inputs and PyTorch's results, fit in "
        "32 bits: x64 off makes int64 values int32 ones, as JAX does, so OpInfo's extremal-value "
        "samples and results that overflow int32 have no 32-bit counterpart to compare.",
        "",
        "Data-dependent output shapes ("
        + ", ".join(f"`{n}`" for n in sorted(DATA_DEPENDENT))
        + ") count as passing under jit when they raise `DataDependentShapeError`; entries that "
        "return Python values (" + ", ".join(f"`{n}`" for n in sorted(PYTHON_VALUE)) + ") when "
        "they raise `ConcretizationError`. Random entries, samples that request dropout and "
        "uninitialized memory (`empty*`) are compared in shape and dtype only. For ops whose "
        "indices are ambiguous on ties (sort, topk, max with dim, ...) only the values are "
        "compared.",
        "",
        *runs[False],
        "",
        *runs[True],
        "",
        "## Skipped entries",
        "",
        "| entry | reason |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | {reason} |" for name, reason in sorted(SKIPPED.items())]
    no_samples = [r.name for r in results if not r.samples]
    if no_samples:
        lines += ["", "## Entries without CPU samples in these dtypes", ""]
        lines += [", ".join(f"`{n}`" for n in no_samples)]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


EXPECTED_PATH = os.path.join(os.path.dirname(__file__), "opinfo_expected_failures.py")


def _reason(message: str) -> str:
    unsupported = re.search(r"UnsupportedOperationError: .* -> (\S+?)( at |\.?$)", message)
    if unsupported:
        return f"no lowering for {unsupported.group(1)}"
    message = re.sub(r" at /\S+:\d+\.?", "", message)
    return message.replace("\\", "/")[:160]


def load_expected_failures(path: str = EXPECTED_PATH) -> tuple[Failures, Failures]:
    """The current tables (sampled, full) as the file holds them now."""
    namespace = runpy.run_path(path)
    return namespace["EXPECTED_FAILURES"], namespace["EXPECTED_FAILURES_FULL"]


def _table_lines(name: str, table: Failures) -> list[str]:
    lines = [f"{name}: dict[str, dict[str, str]] = {{"]
    for entry, modes in table.items():
        # JSON string literals are valid Python and already in ruff's quote style.
        lines.append(f"    {json.dumps(entry)}: {{")
        lines += [f"        {json.dumps(m)}: {json.dumps(reason)}," for m, reason in modes.items()]
        lines.append("    },")
    return [*lines, "}"]


def write_expected_failures(
    results: list[EntryResult], full: bool = False, path: str = EXPECTED_PATH
) -> None:
    """The strict-xfail tables of ``tests/test_opinfo.py``: this run's table rewritten.

    A sampled run rewrites EXPECTED_FAILURES (and drops what it now lists from the full table);
    a full run rewrites EXPECTED_FAILURES_FULL with what the sampled table does not list.
    """
    sampled, full_table = load_expected_failures(path)
    found = failures(results)
    if full:
        full_table = beyond(found, sampled)
    else:
        sampled, full_table = found, beyond(full_table, found)
    lines = [
        '"""Known failures of the OpInfo sweep: entry -> mode -> first error (strict xfails).',
        "",
        "EXPECTED_FAILURES: the sampled run's (`python -m tests.opinfo_sweep --update-expected`).",
        "EXPECTED_FAILURES_FULL: what only the full run (every dtype, up to 8 samples each) finds",
        "beyond those (`python -m tests.opinfo_sweep --full --update-expected`). Each run rewrites",
        "its own table; an entry that starts passing fails its test until it leaves the table.",
        '"""',
        "",
        *_table_lines("EXPECTED_FAILURES", sampled),
        "",
        *_table_lines("EXPECTED_FAILURES_FULL", full_table),
        "",
    ]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def load_results(path: str) -> dict[str, EntryResult]:
    """Results kept with ``--json=FILE``: one JSON object a line, a later line for an entry wins."""
    results = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.strip():
                    result = EntryResult(**json.loads(line))
                    results[result.name] = result
    return results


def main(argv: list[str]) -> int:
    """``python -m tests.opinfo_sweep [--full] [--update-expected] [--json=FILE] [ENTRY ...]``.

    ``--json=FILE`` keeps each entry's result in FILE as soon as the entry finishes; a run over
    an existing FILE runs only the entries it lacks and the named ones, so an interrupted full
    run resumes where it stopped and re-running fixed entries updates the saved results.
    """
    full = "--full" in argv
    options = dict(a[2:].split("=", 1) for a in argv if a.startswith("--") and "=" in a)
    only = [a for a in argv if not a.startswith("--")]
    tested_ops = [op for op in entries() if tested(op)]
    saved = load_results(options["json"]) if "json" in options else {}
    to_run = [
        op for op in tested_ops if op.full_name in only or (not only and op.full_name not in saved)
    ]
    start = time.perf_counter()
    for op in to_run:
        result = run_entry(op, full, timeout=entry_timeout(full))
        saved[result.name] = result
        if "json" in options:
            with open(options["json"], "a") as f:
                f.write(json.dumps(dataclasses.asdict(result)) + "\n")
        failed = {m: result.message[m] for m in MODES if result.get(m) == "fail"}
        print(f"{result.seconds:6.2f}s {op.full_name} {failed or ''}", flush=True)
    results = [saved[op.full_name] for op in tested_ops if op.full_name in saved]
    # Over saved results (a resumed run, re-run entries) the run time is the entries' sum.
    seconds = time.perf_counter() - start if len(to_run) == len(results) else None
    seconds = seconds if seconds is not None else sum(r.seconds for r in results)
    print(summary_text(results) + f"; {seconds:.0f} s")
    if len(results) == len(tested_ops):
        write_report(results, full, seconds, REPORT_PATH)
        if "--update-expected" in argv:
            write_expected_failures(results, full)
    elif "--update-expected" in argv or not only:
        print(f"{len(tested_ops) - len(results)} entries have no result yet: report not written")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
