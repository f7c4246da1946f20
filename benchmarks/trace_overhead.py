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

# Wall clock: it costs 0.06 µs a reading here, where process_time is a 0.8 µs system call, and
# the readings around each lowering would otherwise be billed to torch2jax's own share.
_clock = time.perf_counter


class _SplitTimer:
    """Time inside ``torchish.dispatch`` (outermost calls) and inside the JAX lowerings it calls,
    and the number of lowered ATen operations."""

    def __init__(self) -> None:
        self.count = 0
        self.dispatch_s = 0.0
        self.lowering_s = 0.0
        self._entry = registry.dispatch_entry
        self._dispatch = torchish.dispatch
        self._jax_call = torchish._SPECIAL_OPS[id(torchish.jax_call_op)]
        self._depth = 0

    def __enter__(self) -> _SplitTimer:
        entry, dispatch = self._entry, self._dispatch
        timed_lowerings: dict[Any, Callable[..., Any]] = {}

        def timed_entry(op: Any) -> Any:
            op, lowering, view_inverse = entry(op)
            if lowering is None:
                return op, None, view_inverse
            timed = timed_lowerings.get(lowering)
            if timed is None:
                timed = timed_lowerings[lowering] = timed_lowering(lowering)
            return op, timed, view_inverse

        def timed_lowering(lowering: Callable[..., Any]) -> Callable[..., Any]:
            def timed(*args: Any, **kwargs: Any) -> Any:
                self.count += 1
                start = _clock()
                try:
                    return lowering(*args, **kwargs)
                finally:
                    self.lowering_s += _clock() - start

            return timed

        def timed_dispatch(func: Any, args: tuple, kwargs: dict) -> Any:
            if self._depth:  # inside a decomposition: already timed by the outer call
                return dispatch(func, args, kwargs)
            self._depth += 1
            start = _clock()
            try:
                return dispatch(func, args, kwargs)
            finally:
                self.dispatch_s += _clock() - start
                self._depth -= 1

        registry.dispatch_entry = timed_entry
        torchish.dispatch = timed_dispatch
        # JAX code called through PyTorch's dispatcher (API-level overrides such as
        # scaled_dot_product_attention) is a lowering too.
        torchish._SPECIAL_OPS[id(torchish.jax_call_op)] = timed_lowering(self._jax_call)
        return self

    def __exit__(self, *exc: Any) -> None:
        registry.dispatch_entry = self._entry
        torchish.dispatch = self._dispatch
        torchish._SPECIAL_OPS[id(torchish.jax_call_op)] = self._jax_call


def _where(filename: str) -> str:
    for marker in ("torch2jax", "torch", "jax"):
        index = filename.rfind(os.sep + marker + os.sep)
        if index >= 0:
            return filename[index + 1 :]
    return os.path.basename(filename)


def trace_overhead(fn: Callable[..., Any], *args: Any, top: int = 8) -> dict[str, Any]:
    """Trace ``fn`` to a jaxpr (after one warm-up trace) and split the time per ATen operation.

    Best of five traces (wall clock), split three ways per lowered ATen operation:
    ``jax_us_per_op``, JAX tracing the lowerings' own calls; ``torch2jax_us_per_op``,
    torch2jax's dispatch around them (argument unwrapping, lookup, wrapping results as
    Torchish); ``pytorch_us_per_op``, everything outside dispatch: PyTorch's dispatcher and
    functionalization, the model's own Python, the conversion's fixed costs, and torch2jax's
    function-mode hook on each PyTorch API call, whose own (self) time under cProfile is
    ``api_hook_us_per_op``. The timers add about 0.3 µs per operation.
    """

    def trace() -> None:
        # A fresh function object each time: JAX caches traces by function identity.
        jax.make_jaxpr(lambda *a: fn(*a))(*args)

    trace()
    best = None
    for _ in range(5):
        with _SplitTimer() as timer:
            start = _clock()
            trace()
            total = _clock() - start
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
    hook = torchish.ConversionFunctionMode.__torch_function__.__code__
    hook_s = sum(
        tottime
        for (filename, line, name), (_, _, tottime, _, _) in stats.stats.items()
        if (filename, line, name) == (hook.co_filename, hook.co_firstlineno, hook.co_name)
    )
    ops = max(timer.count, 1)
    return {
        "aten_ops": timer.count,
        "trace_s": total,
        "us_per_op": total / ops * 1e6,
        "jax_us_per_op": timer.lowering_s / ops * 1e6,
        "torch2jax_us_per_op": (timer.dispatch_s - timer.lowering_s) / ops * 1e6,
        "pytorch_us_per_op": (total - timer.dispatch_s) / ops * 1e6,
        "api_hook_us_per_op": hook_s / ops * 1e6,
        "hotspots": hotspots,
    }
