"""Model-zoo harness: run one model through torch2jax four ways and measure it against PyTorch.

A `Case` builds a model (random weights) and the smallest inputs it allows. `run_check` runs one of
four checks and returns the largest relative error it saw:

- ``eager``: the converted module called without ``jit``, outputs against PyTorch's.
- ``jit``: the same under ``jax.jit``.
- ``grad``: ``jax.grad`` (jitted) of a scalar loss with respect to every parameter, against
  PyTorch's autograd.
- ``train``: the module in training mode under ``jit`` with ``return_state_dict=True``: outputs and
  updated buffers (batch-norm running statistics, ``num_batches_tracked``) against PyTorch's. Dropout
  is switched off (p=0) for this check so that both sides compute the same function; random dropout
  is checked separately, statistically.

Errors are relative to scale: for each output leaf ``max|jax - torch| / max|torch|``; for each
parameter's gradient the same, with the scale floored at 1e-3 of the largest gradient in the model
(a parameter whose gradient vanishes mathematically, like an attention key bias, has only round-off
in both libraries and is measured against the model's gradient scale instead).

Results are recorded in ``docs/models.json``; ``python -m tests.model_zoo`` (and the suite itself,
in a full run) turns them into the table in ``docs/models.md``.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch
import torch.utils._pytree as torch_pytree

from tests.conftest import x64_set
from torch2jax import t2j

CHECKS = ("eager", "jit", "grad", "train")
OUTPUT_TOLERANCE = 1e-4
GRAD_TOLERANCE = 1e-3

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_PATH = os.path.join(ROOT, "docs", "models.json")
TABLE_PATH = os.path.join(ROOT, "docs", "models.md")


@dataclasses.dataclass
class Built:
    """A model in eval mode and the inputs to call it with."""

    module: torch.nn.Module
    args: tuple = ()
    kwargs: dict = dataclasses.field(default_factory=dict)
    # Training-mode inputs where they must be larger: batch norm over a 1x1 feature map of a
    # batch of 2 normalizes 2 values per channel, which amplifies round-off a thousandfold.
    train_args: tuple | None = None

    def for_training(self) -> Built:
        if self.train_args is None:
            return self
        return Built(self.module, self.train_args, self.kwargs)

    def in_float64(self) -> Built:
        """A float64 copy of the model and its floating-point inputs."""

        def double(x: Any) -> Any:
            return x.double() if isinstance(x, torch.Tensor) and x.is_floating_point() else x

        return Built(
            copy.deepcopy(self.module).double(),
            torch_pytree.tree_map(double, self.args),
            torch_pytree.tree_map(double, self.kwargs),
            None if self.train_args is None else torch_pytree.tree_map(double, self.train_args),
        )


@dataclasses.dataclass
class Case:
    """One model of the zoo.

    ``build`` returns a `Built` (random weights, eval mode). ``checks`` are the checks that apply
    (``train`` only for models with batch norm or dropout). ``xfail`` maps a check to the reason it
    is a strict expected failure (the missing piece). ``tolerance`` maps a check to a looser
    tolerance together with the reason it needs one. ``jit_raises`` names the error class ``jit``
    must raise instead of working (detection models' data-dependent shapes). ``float64`` lists
    the checks that compare both libraries in float64 (x64 on): for models whose float32 result
    is ill-conditioned in PyTorch itself (``note`` says why).
    """

    name: str
    family: str
    build: Callable[[], Built]
    checks: tuple[str, ...] = CHECKS
    default: bool = False
    xfail: dict[str, str] = dataclasses.field(default_factory=dict)
    tolerance: dict[str, tuple[float, str]] = dataclasses.field(default_factory=dict)
    jit_raises: type | None = None
    float64: tuple[str, ...] = ()
    note: str = ""


# --------------------------------------------------------------------------------------------------
# Errors relative to scale


def _sorted_dicts(tree: Any) -> Any:
    """Plain dicts with their keys sorted: JAX flattens a dict in key order, PyTorch in insertion
    order (a detection model's {"boxes", "scores", "labels"})."""
    if type(tree) is dict:
        return {key: _sorted_dicts(tree[key]) for key in sorted(tree)}
    if type(tree) in (list, tuple):
        return type(tree)(_sorted_dicts(item) for item in tree)
    return tree


def _leaves(tree: Any, jax_side: bool) -> list[np.ndarray]:
    if jax_side:
        leaves = jax.tree_util.tree_leaves(tree)
    else:
        leaves = torch_pytree.tree_leaves(_sorted_dicts(tree))
    arrays = []
    for leaf in leaves:
        if isinstance(leaf, torch.Tensor):
            wide = leaf.dtype in (torch.float32, torch.float64) or not leaf.is_floating_point()
            arrays.append(leaf.detach().numpy() if wide else leaf.detach().float().numpy())
        elif isinstance(leaf, (jax.Array, np.ndarray)):
            arrays.append(np.asarray(leaf))
    return arrays


def relative_error(actual: np.ndarray, expected: np.ndarray, floor: float = 0.0) -> float:
    """``max|actual - expected| / max|expected|`` (exact match required for integer results)."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    if expected.size == 0:
        return 0.0
    if expected.dtype.kind in "biu":
        return 0.0 if np.array_equal(actual, expected) else float("inf")
    actual = actual.astype(np.float64)
    expected = expected.astype(np.float64)
    if not np.array_equal(np.isfinite(actual), np.isfinite(expected)):
        return float("inf")
    finite = np.isfinite(expected)
    scale = max(float(np.abs(expected[finite]).max(initial=0.0)), floor, 1e-30)
    return float(np.abs(actual[finite] - expected[finite]).max(initial=0.0) / scale)


def tree_relative_error(actual: Any, expected: Any) -> float:
    """The largest `relative_error` over the output leaves (JAX tree against PyTorch tree)."""
    actual_leaves = _leaves(actual, jax_side=True)
    expected_leaves = _leaves(expected, jax_side=False)
    assert len(actual_leaves) == len(expected_leaves), (len(actual_leaves), len(expected_leaves))
    errors = [relative_error(a, e) for a, e in zip(actual_leaves, expected_leaves, strict=True)]
    return max(errors, default=0.0)


# --------------------------------------------------------------------------------------------------
# The scalar loss: a fixed random projection of every floating-point output


def _projection(index: int, shape: tuple[int, ...]) -> np.ndarray:
    weights = np.random.default_rng(index).standard_normal(shape).astype(np.float32)
    return weights / max(1, weights.size) ** 0.5


def torch_loss(out: Any) -> torch.Tensor:
    floats = [
        leaf
        for leaf in torch_pytree.tree_leaves(_sorted_dicts(out))
        if isinstance(leaf, torch.Tensor)
    ]
    floats = [leaf for leaf in floats if leaf.is_floating_point() and leaf.requires_grad]
    return sum(
        (leaf * torch.from_numpy(_projection(i, tuple(leaf.shape)))).sum()
        for i, leaf in enumerate(floats)
    )


def jax_loss(out: Any, differentiable: list[bool]) -> Any:
    floats = [
        leaf
        for leaf in jax.tree_util.tree_leaves(out)
        if isinstance(leaf, jax.Array) and jnp.issubdtype(leaf.dtype, jnp.floating)
    ]
    floats = [leaf for leaf, keep in zip(floats, differentiable, strict=True) if keep]
    return sum((leaf * _projection(i, tuple(leaf.shape))).sum() for i, leaf in enumerate(floats))


# --------------------------------------------------------------------------------------------------
# The four checks


def _to_jax(tree: Any) -> Any:
    return torch_pytree.tree_map(lambda x: t2j(x) if isinstance(x, torch.Tensor) else x, tree)


def _parameters(module: torch.nn.Module) -> dict[str, Any]:
    return {name: t2j(p.detach()) for name, p in module.named_parameters()}


def _call_jax(module: torch.nn.Module, built: Built, **options: Any) -> Callable[..., Any]:
    converted = t2j(module)
    args, kwargs = _to_jax(built.args), _to_jax(built.kwargs)

    def call(params: dict[str, Any]) -> Any:
        return converted(*args, state_dict=params, **kwargs, **options)

    return call


def check_eager(built: Built) -> float:
    with torch.no_grad():
        expected = built.module(*built.args, **built.kwargs)
    actual = _call_jax(built.module, built)(_parameters(built.module))
    return tree_relative_error(actual, expected)


def check_jit(built: Built) -> float:
    with torch.no_grad():
        expected = built.module(*built.args, **built.kwargs)
    actual = jax.jit(_call_jax(built.module, built))(_parameters(built.module))
    return tree_relative_error(actual, expected)


def torch_gradients(built: Built) -> tuple[dict[str, np.ndarray], list[bool]]:
    """PyTorch's gradient of the scalar loss per parameter, and which floating-point outputs
    carry gradients (for the JAX side's loss)."""
    # A copy: some models keep tensors of their last forward on themselves (RAFT's correlation
    # pyramid), and after an autograd forward those are graph nodes that deepcopy (the train
    # check's) refuses.
    module = copy.deepcopy(built.module)
    module.zero_grad(set_to_none=True)
    out = module(*built.args, **built.kwargs)
    differentiable = [
        leaf.requires_grad
        for leaf in torch_pytree.tree_leaves(_sorted_dicts(out))
        if isinstance(leaf, torch.Tensor) and leaf.is_floating_point()
    ]
    torch_loss(out).backward()
    gradients = {
        name: (p.grad if p.grad is not None else torch.zeros_like(p)).numpy()
        for name, p in module.named_parameters()
        if p.requires_grad
    }
    return gradients, differentiable


def jax_gradients(built: Built, differentiable: list[bool]) -> dict[str, np.ndarray]:
    call = _call_jax(built.module, built)
    params = _parameters(built.module)
    grads = jax.jit(jax.grad(lambda p: jax_loss(call(p), differentiable)))(params)
    return {name: np.asarray(g) for name, g in grads.items()}


def gradients_error(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> float:
    floor = 1e-3 * max(float(np.abs(g).max(initial=0.0)) for g in expected.values())
    return max(
        (relative_error(actual[name], g, floor) for name, g in expected.items()),
        default=0.0,
    )


def check_grad(built: Built) -> float:
    expected, differentiable = torch_gradients(built)
    return gradients_error(jax_gradients(built, differentiable), expected)


def disable_dropout(module: torch.nn.Module) -> None:
    """p=0 for every dropout-like submodule (nn.Dropout*, torchvision's StochasticDepth, timm's
    DropPath, timm heads' drop_rate), so training mode computes the same function in both libraries."""
    for sub in module.modules():
        if isinstance(sub, torch.nn.modules.dropout._DropoutNd):
            sub.p = 0.0
        elif type(sub).__name__ in ("StochasticDepth",):
            sub.p = 0.0
        elif type(sub).__name__ == "DropPath":
            sub.drop_prob = 0.0
        if isinstance(getattr(sub, "drop_rate", None), float):
            sub.drop_rate = 0.0  # timm heads call F.dropout(x, self.drop_rate, self.training)


def _training_copy(built: Built) -> Built:
    built = built.for_training()
    module = copy.deepcopy(built.module).train()
    disable_dropout(module)
    return Built(module, built.args, built.kwargs)


def torch_training(built: Built) -> tuple[Any, dict[str, torch.Tensor], torch.nn.Module]:
    """One training-mode forward in PyTorch: outputs, updated buffers and the module."""
    training = _training_copy(built)
    with torch.no_grad():
        outputs = training.module(*training.args, **training.kwargs)
    return outputs, dict(training.module.named_buffers()), training.module


def jax_training(built: Built) -> tuple[Any, dict[str, Any]]:
    """The same forward converted, under jit: outputs and the updated state dict."""
    built = _training_copy(built)
    call = _call_jax(built.module, built, return_state_dict=True)
    return jax.jit(call)(_parameters(built.module))


def training_error(actual: tuple[Any, dict[str, Any]], expected: tuple) -> float:
    (outputs, new_state), (expected_outputs, expected_buffers, module) = actual, expected
    errors = [tree_relative_error(outputs, expected_outputs)]
    for name, value in expected_buffers.items():
        floor = _running_mean_scale(module, expected_buffers, name)
        errors.append(relative_error(np.asarray(new_state[name]), value.numpy(), floor))
    return max(errors)


def check_train(built: Built) -> float:
    return training_error(jax_training(built), torch_training(built))


def _running_mean_scale(module: torch.nn.Module, buffers: dict, name: str) -> float:
    """The scale a batch-norm running mean's error is measured against: the batch's standard
    deviation folded in with the same momentum. A channel whose mean is zero up to round-off (a
    linear layer after a normalized one) has a batch mean that is all round-off in both
    libraries; relative to its own size that error means nothing."""
    if not name.endswith("running_mean"):
        return 0.0
    owner = module.get_submodule(name.rpartition(".")[0]) if "." in name else module
    variance = buffers.get(name[: -len("mean")] + "var")
    momentum = getattr(owner, "momentum", None)
    if variance is None or not momentum:
        return 0.0
    return float(momentum) * float(variance.max()) ** 0.5


CHECK_FUNCTIONS = {
    "eager": check_eager,
    "jit": check_jit,
    "grad": check_grad,
    "train": check_train,
}


def run_check(case: Case, built: Built, check: str) -> tuple[float, float]:
    """Run ``check`` on a built case; returns (max relative error, seconds)."""
    start = time.perf_counter()
    if check in case.float64:
        with x64_set(True):
            error = CHECK_FUNCTIONS[check](built.in_float64())
    else:
        error = CHECK_FUNCTIONS[check](built)
    return error, time.perf_counter() - start


def tolerance(case: Case, check: str) -> float:
    if check in case.tolerance:
        return case.tolerance[check][0]
    return GRAD_TOLERANCE if check == "grad" else OUTPUT_TOLERANCE


# --------------------------------------------------------------------------------------------------
# Results and the table in docs/models.md


def load_results() -> dict[str, dict[str, Any]]:
    if not os.path.exists(RESULTS_PATH):
        return {}
    with open(RESULTS_PATH) as f:
        return json.load(f)


def save_results(updates: dict[str, dict[str, Any]]) -> None:
    """Merge this run's results into docs/models.json and rewrite docs/models.md (under a file
    lock: several runs may record at once)."""
    import fcntl

    os.makedirs(os.path.dirname(RESULTS_PATH), exist_ok=True)
    import tempfile

    with open(os.path.join(tempfile.gettempdir(), "torch2jax-models.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _merge_results(updates)


def _merge_results(updates: dict[str, dict[str, Any]]) -> None:
    results = load_results()
    for name, entry in updates.items():
        merged = results.setdefault(name, {})
        merged.update({k: v for k, v in entry.items() if k != "checks"})
        merged.setdefault("checks", {}).update(entry.get("checks", {}))
    with open(RESULTS_PATH, "w") as f:
        json.dump(dict(sorted(results.items())), f, indent=1, sort_keys=True)
        f.write("\n")
    write_table(results)


def _cell(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return ""
    status = entry["status"]
    if status == "pass":
        return f"{entry['error']:.1e}"
    if status == "raises":
        return f"raises {entry['detail']}"
    if status == "n/a":
        return "n/a"
    if status == "xfail":
        return "xfail"
    return f"**{status}**: {entry.get('detail', '')}"


def write_table(results: dict[str, dict[str, Any]]) -> None:
    from tests.model_cases import all_cases

    families: dict[str, list[Case]] = {}
    for case in all_cases():
        families.setdefault(case.family, []).append(case)
    counts = {check: {"pass": 0, "total": 0} for check in CHECKS}
    sections = []
    timings = []
    for family, cases in families.items():
        rows = [
            f"### {family}",
            "",
            "| model | eager | jit | grad | train | seconds | notes |",
            "|---|---|---|---|---|---|---|",
        ]
        for case in cases:
            entry = results.get(case.name, {})
            checks = entry.get("checks", {})
            seconds = sum(c.get("seconds", 0.0) for c in checks.values())
            if checks:
                timings.append((seconds, case.name))
            cells = []
            for check in CHECKS:
                if check not in case.checks:
                    cells.append("n/a")
                    continue
                result = checks.get(check)
                in_float64 = " (float64)" if check in case.float64 and result else ""
                cells.append((_cell(result) if result else "not run") + in_float64)
                if result and result["status"] == "n/a":
                    continue
                counts[check]["total"] += 1
                if result and result["status"] in ("pass", "raises"):
                    counts[check]["pass"] += 1
            notes = case.note
            reasons = sorted(set(case.xfail.values()))
            if reasons:
                notes += " xfail: " + "; ".join(reasons) + "."
            for check, (tol, why) in case.tolerance.items():
                notes += f" {check} tolerance {tol:g}: {why}."
            rows.append(
                f"| {case.name} | " + " | ".join(cells) + f" | {seconds:.0f} | {notes.strip()} |"
            )
        sections.append("\n".join(rows))
    totals = ", ".join(f"{check} {c['pass']}/{c['total']}" for check, c in counts.items())
    slowest = ", ".join(f"{name} ({s:.0f} s)" for s, name in sorted(timings, reverse=True)[:10])
    header = f"""# Model zoo

Written by the test suite (`tests/test_models.py`, `tests/model_zoo.py`); do not edit by hand.
`make test-full` (or `T2J_FULL=1 pytest tests/test_models.py`) runs every model and rewrites this
file; `make test` runs a representative subset.

Random weights, the smallest inputs each model allows. Each cell is the largest relative error
against PyTorch (CPU, float32): for outputs `max|jax - torch| / max|torch|` per output, for
gradients of a scalar loss (a fixed random projection of every output) the same per parameter.
Tolerances: outputs 1e-4, gradients 1e-3 (a looser one is listed in the notes with its reason).

- **eager**: the converted module called without `jax.jit`.
- **jit**: under `jax.jit`.
- **grad**: `jax.jit(jax.grad(loss))` with respect to every parameter.
- **train**: training mode under `jax.jit` with `return_state_dict=True`; outputs and updated
  buffers (batch-norm running statistics, `num_batches_tracked`). Dropout set to p=0 so both sides
  compute the same function (random dropout is tested statistically in `tests/test_models.py`).
  `n/a`: the model has neither batch norm nor dropout.
- **(float64)**: both libraries compared in float64 (x64 on), for models whose float32 result is
  ill-conditioned in PyTorch itself: its own float32 result is far from its float64 one (the notes
  give the measurement, from `python -m tests.zoo_float64 NAME`).
- **raises X**: `jit` raises torch2jax's clear error X (data-dependent output shapes), as intended.
- **xfail**: a strict expected failure naming the missing piece.

Totals (passed or raising the intended error / models where the check applies): {totals}.

Slowest models (all checks, seconds on a shared 2-core CPU): {slowest}.
"""
    with open(TABLE_PATH, "w") as f:
        f.write(header + "\n" + "\n\n".join(sections) + "\n")


if __name__ == "__main__":
    write_table(load_results())
