"""What tracing costs per ATen operation, and where the time goes (cProfile)."""

from __future__ import annotations

import cProfile
import os
import pstats
import time
from collections.abc import Callable
from typing import Any

import jax

from torch2jax import registry


class _LoweringTimer:
    """Counts ATen operations that reach a JAX lowering and the time spent inside lowerings."""

    def __init__(self) -> None:
        self.count = 0
        self.seconds = 0.0
        self._lookup = registry.aten_lowering

    def __enter__(self) -> _LoweringTimer:
        lookup = self._lookup

        def timed_lookup(op: Any) -> Any:
            lowering = lookup(op)
            if lowering is None:
                return None

            def timed(*args: Any, **kwargs: Any) -> Any:
                self.count += 1
                start = time.perf_counter()
                try:
                    return lowering(*args, **kwargs)
                finally:
                    self.seconds += time.perf_counter() - start

            return timed

        registry.aten_lowering = timed_lookup
        return self

    def __exit__(self, *exc: Any) -> None:
        registry.aten_lowering = self._lookup


def _where(filename: str) -> str:
    for marker in ("torch2jax", "torch", "jax"):
        index = filename.rfind(os.sep + marker + os.sep)
        if index >= 0:
            return filename[index + 1 :]
    return os.path.basename(filename)


def trace_overhead(fn: Callable[..., Any], *args: Any, top: int = 8) -> dict[str, Any]:
    """Trace ``fn`` to a jaxpr (after one warm-up trace) and split the time per ATen operation.

    ``us_per_op`` is the whole trace divided by the ATen operations lowered; ``overhead_us_per_op``
    leaves out the time spent inside the JAX lowerings themselves (JAX's own tracing of
    jax.numpy calls), which is what the translation (PyTorch's dispatcher, functionalization,
    Torchish wrapping, decompositions) adds on top.
    """

    def trace() -> None:
        # A fresh function object each time: JAX caches traces by function identity.
        jax.make_jaxpr(lambda *a: fn(*a))(*args)

    trace()
    with _LoweringTimer() as timer:
        start = time.perf_counter()
        trace()
        total = time.perf_counter() - start
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
        "overhead_us_per_op": (total - timer.seconds) / ops * 1e6,
        "hotspots": hotspots,
    }
