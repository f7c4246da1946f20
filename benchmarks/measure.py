"""Measurements of one model: conversion, first-call costs, steady-state speed against PyTorch."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch
from graphs import graph_stats
from models import ModelSpec, main_output
from timing import interleaved_medians, resident_bytes
from trace_overhead import trace_overhead

from torch2jax import compiler_options, t2j


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def state_dict_conversion(state: dict[str, torch.Tensor]) -> dict[str, float]:
    """Time and extra resident memory of ``t2j(state_dict)``; zero-copy keeps both small."""
    jax.block_until_ready(t2j(torch.zeros(1)))  # one-time backend start-up is not the cost
    gc.collect()
    before = resident_bytes()
    start = time.perf_counter()
    arrays = t2j(state)
    jax.block_until_ready(arrays)
    seconds = time.perf_counter() - start
    extra = resident_bytes() - before
    size = sum(t.numel() * t.element_size() for t in state.values())
    del arrays
    return {"size_mb": size / 2**20, "ms": seconds * 1e3, "extra_rss_mb": max(extra, 0) / 2**20}


def large_state_dict_conversion(total_mb: int) -> dict[str, float]:
    """The issue's 500 MB case: a state dict of 50 MB float32 tensors (filled, so resident)."""
    count = max(total_mb // 50, 1)
    rows = total_mb * 2**20 // 4 // count // 1024
    state = {f"layer{i}.weight": torch.randn(rows, 1024) for i in range(count)}
    result = state_dict_conversion(state)
    del state
    gc.collect()
    return result


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def _loss_torch(out: Any) -> torch.Tensor:
    return main_output(out).float().pow(2).mean()


def _loss_jax(out: Any) -> Any:
    return jnp.mean(jnp.square(main_output(out).astype(jnp.float32)))


def _torch_compile_contenders(
    model: torch.nn.Module, inputs: tuple, device: str
) -> tuple[dict[str, Callable[[], Any]], dict[str, Any]]:
    """torch.compile's forward and forward+backward, with their first-call (compile) times."""
    results: dict[str, Any] = {}
    contenders: dict[str, Callable[[], Any]] = {}
    try:
        torch._dynamo.reset()
        compiled = torch.compile(model)

        def forward() -> None:
            with torch.no_grad():
                compiled(*inputs)
            _sync(device)

        _, results["compile_fwd_first_call_s"] = _timed(forward)
        contenders["torch_compile_fwd"] = forward

        def forward_backward() -> None:
            model.zero_grad(set_to_none=True)
            _loss_torch(compiled(*inputs)).backward()
            _sync(device)

        _, results["compile_fwdbwd_first_call_s"] = _timed(forward_backward)
        contenders["torch_compile_fwdbwd"] = forward_backward
    except Exception as error:  # torch.compile needs a working C++ toolchain; report, go on
        results["torch_compile_error"] = f"{type(error).__name__}: {str(error)[:200]}"
    return contenders, results


def _runner(
    compiled: Any, fn: Callable[..., Any], args: tuple, options: dict[str, Any]
) -> Callable[[], Any]:
    """A blocking call of the compiled executable; of ``jax.jit(fn)`` where JAX refuses the
    ahead-of-time call (seen on BERT's gradient: "compiled for 200 inputs but called with 198")."""
    try:
        jax.block_until_ready(compiled(*args))
        return lambda: jax.block_until_ready(compiled(*args))
    except TypeError:
        jitted = jax.jit(fn, compiler_options=options)
        jax.block_until_ready(jitted(*args))
        return lambda: jax.block_until_ready(jitted(*args))


def _jitted_contenders(
    name: str,
    first_call: str,
    fn: Callable[..., Any],
    args: tuple,
    options: dict[str, Any],
    result: dict[str, Any],
    xla_defaults: bool = True,
) -> dict[str, Callable[[], Any]]:
    """``fn`` jitted with torch2jax's recommended compiler options, its first call timed as
    ``{first_call}_trace_s`` and ``{first_call}_compile_s``, and, where the options are not
    empty and ``xla_defaults`` is set, ``fn`` jitted with XLA's defaults too."""
    lowered, result[f"{first_call}_trace_s"] = _timed(lambda: jax.jit(fn).lower(*args))
    compiled, result[f"{first_call}_compile_s"] = _timed(lambda: lowered.compile(options))
    contenders = {name: _runner(compiled, fn, args, options)}
    if options and xla_defaults:
        contenders[f"{name}_xla_defaults"] = _runner(lowered.compile(), fn, args, {})
    return contenders


def bench_model(
    spec: ModelSpec, device: str, repeats: int, torch_compile: bool, trace_profile: bool
) -> dict[str, Any]:
    torch.manual_seed(0)
    model = spec.build().eval().to(device)
    inputs = tuple(x.to(device) for x in spec.inputs())
    result: dict[str, Any] = {"name": spec.name, "label": spec.label, "targets": spec.targets}

    result["state_dict"] = state_dict_conversion(model.state_dict())

    jax_model = t2j(model)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    state = t2j(model.state_dict())
    params = {n: v for n, v in state.items() if n in trainable}
    buffers = {n: v for n, v in state.items() if n not in trainable}
    jax_inputs = tuple(t2j(x) for x in inputs)

    def forward(params: Any, buffers: Any, *xs: Any) -> Any:
        return main_output(jax_model(*xs, state_dict={**params, **buffers}))

    def loss(params: Any, buffers: Any, *xs: Any) -> Any:
        return _loss_jax(forward(params, buffers, *xs))

    args = (params, buffers, *jax_inputs)
    options = compiler_options()
    result["compiler_options"] = options
    t2j_fwd = _jitted_contenders("t2j_jit_fwd", "fwd", forward, args, options, result)
    t2j_bwd = _jitted_contenders(
        "t2j_jit_value_and_grad", "grad", jax.value_and_grad(loss), args, options, result
    )

    with torch.inference_mode():
        expected = main_output(model(*inputs)).float().cpu().numpy()
    actual = np.asarray(t2j_fwd["t2j_jit_fwd"](), np.float32)  # the compiled forward's output
    result["max_abs_diff"] = float(np.max(np.abs(actual - expected)))

    def torch_fwd() -> None:
        with torch.inference_mode():
            model(*inputs)
        _sync(device)

    def torch_fwdbwd() -> None:
        model.zero_grad(set_to_none=True)
        _loss_torch(model(*inputs)).backward()
        _sync(device)

    fwd = {"torch_eager_fwd": torch_fwd, **t2j_fwd}
    bwd = {"torch_eager_fwdbwd": torch_fwdbwd, **t2j_bwd}
    if torch_compile:
        contenders, compile_results = _torch_compile_contenders(model, inputs, device)
        result.update(compile_results)
        fwd.update({k: v for k, v in contenders.items() if k.endswith("_fwd")})
        bwd.update({k: v for k, v in contenders.items() if k.endswith("_fwdbwd")})
    result["ms"] = {**interleaved_medians(fwd, repeats), **interleaved_medians(bwd, repeats)}
    model.zero_grad(set_to_none=True)

    result["graph"] = graph_stats(forward, *args)
    if trace_profile:
        result["trace"] = trace_overhead(forward, *args)
    return result


def bench_blocks(repeats: int) -> dict[str, Any]:
    """Op counts and speed of the converted conv/attention block next to hand-written JAX."""
    from graphs import BLOCKS

    results = {}
    for label, (build_torch, jax_version, make_input) in BLOCKS.items():
        torch.manual_seed(0)
        module = build_torch()
        x = t2j(make_input())
        params = t2j(dict(module.state_dict()))
        converted = t2j(module)

        def t2j_block(params: Any, x: Any, converted: Any = converted) -> Any:
            return converted(x, state_dict=params)

        stats = {
            "t2j": graph_stats(t2j_block, params, x),
            "jax.numpy": graph_stats(jax_version, params, x),
        }
        fast = {name: jax.jit(fn) for name, fn in [("t2j", t2j_block), ("jax.numpy", jax_version)]}
        np.testing.assert_allclose(
            np.asarray(fast["t2j"](params, x)),
            np.asarray(fast["jax.numpy"](params, x)),
            rtol=1e-4,
            atol=1e-4,
        )
        times = interleaved_medians(
            {
                name: (lambda f=f, p=params, x=x: jax.block_until_ready(f(p, x)))
                for name, f in fast.items()
            },
            repeats,
        )
        for name in stats:
            stats[name]["ms"] = times[name]
        results[label] = stats
    return results


def bench_hand_written_resnet18(repeats: int) -> dict[str, Any]:
    """ResNet-18 1×224 converted and written by hand in JAX (graphs.resnet18_jax), on the same
    weights and compiler options: first call (trace, compile) and steady state, forward and
    value_and_grad, in the same rounds; each version's largest difference from PyTorch."""
    from graphs import resnet18_jax
    from models import MODELS

    spec = MODELS["resnet18_b1"]
    torch.manual_seed(0)
    model = spec.build().eval()
    (image,) = spec.inputs()
    with torch.inference_mode():
        expected = model(image).numpy()
    converted = t2j(model)
    versions = {
        "t2j": lambda state, x: converted(x, state_dict=state),
        "hand-written JAX": resnet18_jax,
    }
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    state = t2j(model.state_dict())
    params = {n: v for n, v in state.items() if n in trainable}
    buffers = {n: v for n, v in state.items() if n not in trainable}
    args = (params, buffers, t2j(image))
    options = compiler_options()
    results: dict[str, Any] = {}
    fwd: dict[str, Callable[[], Any]] = {}
    grad: dict[str, Callable[[], Any]] = {}
    for version, network in versions.items():

        def forward(params: Any, buffers: Any, x: Any, network: Any = network) -> Any:
            return network({**params, **buffers}, x)

        def loss(params: Any, buffers: Any, x: Any, forward: Any = forward) -> Any:
            return _loss_jax(forward(params, buffers, x))

        result: dict[str, Any] = {}
        fwd.update(_jitted_contenders(version, "fwd", forward, args, options, result, False))
        grad[version] = _jitted_contenders(
            version, "grad", jax.value_and_grad(loss), args, options, result, False
        )[version]
        actual = np.asarray(jax.jit(forward)(*args))
        result["max_abs_diff"] = float(np.max(np.abs(actual - expected)))
        results[version] = result
    fwd_ms, grad_ms = interleaved_medians(fwd, repeats), interleaved_medians(grad, repeats)
    for version, result in results.items():
        result["fwd_ms"], result["grad_ms"] = fwd_ms[version], grad_ms[version]
    return results
