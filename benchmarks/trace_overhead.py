"""What tracing costs per ATen operation, and where the time goes (cProfile)."""

from __future__ import annotations

import cProfile
import os
import pstats
import time
from collections.abc import Callable
from typing import Any

import jax

from torch2jax import registry, torchish


class _SplitTimer:
    """Process CPU time inside ``torchish.dispatch`` (outermost calls) and inside the JAX
    lowerings it calls, and the number of lowered ATen operations."""

    def __init__(self) -> None:
        self.count = 0
        self.dispatch_s = 0.0
        self.lowering_s = 0.0
        self._lookup = registry.aten_lowering
        self._dispatch = torchish.dispatch
        self._jax_call = torchish._SPECIAL_OPS[torchish.jax_call_op]
        self._depth = 0

    def __enter__(self) -> _SplitTimer:
        lookup, dispatch = self._lookup, self._dispatch

        def timed_lookup(op: Any) -> Any:
            lowering = lookup(op)
            return None if lowering is None else timed_lowering(lowering)

        def timed_lowering(lowering: Callable[..., Any]) -> Callable[..., Any]:
            def timed(*args: Any, **kwargs: Any) -> Any:
                self.count += 1
                start = time.process_time()
                try:
                    return lowering(*args, **kwargs)
                finally:
                    self.lowering_s += time.process_time() - start

            return timed

        def timed_dispatch(func: Any, args: tuple, kwargs: dict) -> Any:
            if self._depth:  # inside a decomposition: already timed by the outer call
                return dispatch(func, args, kwargs)
            self._depth += 1
            start = time.process_time()
            try:
                return dispatch(func, args, kwargs)
            finally:
                self.dispatch_s += time.process_time() - start
                self._depth -= 1

        registry.aten_lowering = timed_lookup
        torchish.dispatch = timed_dispatch
        # JAX code called through PyTorch's dispatcher (API-level overrides such as
        # scaled_dot_product_attention) is a lowering too.
        special = torchish._SPECIAL_OPS
        special[torchish.jax_call_op] = timed_lowering(self._jax_call)
        return self

    def __exit__(self, *exc: Any) -> None:
        registry.aten_lowering = self._lookup
        torchish.dispatch = self._dispatch
        torchish._SPECIAL_OPS[torchish.jax_call_op] = self._jax_call


def _where(filename: str) -> str:
    for marker in ("torch2jax", "torch", "jax"):
        index = filename.rfind(os.sep + marker + os.sep)
        if index >= 0:
            return filename[index + 1 :]
    return os.path.basename(filename)


def trace_overhead(fn: Callable[..., Any], *args: Any, top: int = 8) -> dict[str, Any]:
    """Trace ``fn`` to a jaxpr (after one warm-up trace) and split the time per ATen operation.

    Process CPU time (the machine may be shared), best of three traces, split three ways per
    lowered ATen operation: ``jax_us_per_op``, JAX tracing the lowerings' own calls;
    ``torch2jax_us_per_op``, torch2jax's dispatch around them (argument unwrapping, lookup,
    wrapping results as Torchish); ``pytorch_us_per_op``, everything outside dispatch: PyTorch's
    dispatcher and functionalization, the model's own Python, the conversion's fixed costs.
    The timers add about 1 µs per operation.
    """

    def trace() -> None:
        # A fresh function object each time: JAX caches traces by function identity.
        jax.make_jaxpr(lambda *a: fn(*a))(*args)

    trace()
    best = None
    for _ in range(3):
        with _SplitTimer() as timer:
            start = time.process_time()
            trace()
            total = time.process_time() - start
        if best is None or total < best[0]:
            best = (total, timer)
    total, timer = best
    profile = cProfile.Profile()
    profile.enable()
    trace()
    profile.disable()
    stats = pstats.Stats(profile)
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:top]
    hotspots = [
        {
            "function": f"{_where(filename)}:{line} {name}",
            "calls": calls,
            "tottime_ms": tottime * 1e3,
        }
        for (filename, line, name), (_, calls, tottime, _, _) in rows
    ]
    ops = max(timer.count, 1)
    return {
        "aten_ops": timer.count,
        "trace_s": total,
        "us_per_op": total / ops * 1e6,
        "jax_us_per_op": timer.lowering_s / ops * 1e6,
        "torch2jax_us_per_op": (timer.dispatch_s - timer.lowering_s) / ops * 1e6,
        "pytorch_us_per_op": (total - timer.dispatch_s) / ops * 1e6,
        "hotspots": hotspots,
    }
