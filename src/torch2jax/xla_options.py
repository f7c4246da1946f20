"""XLA compiler options measured to speed up converted models, per backend."""

from __future__ import annotations

import functools
from typing import Any

import jax
import numpy as np

# XLA:CPU hands both matrix products and convolutions to YNNPACK by default. For the
# convolutions of converted CNNs its other convolution path is faster on x86 (ResNet-18 jitted
# forward, same process: 451 -> 331 ms at batch 8, 54 -> 43 ms at batch 1; transformers
# unchanged or faster; docs/benchmarks.md), so YNNPACK is kept for matrix products only.
_CPU_OPTIONS: dict[str, Any] = {
    "xla_cpu_experimental_ynn_fusion_type": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT",
}


def _accepted(options: dict[str, Any]) -> bool:
    """Whether the installed jaxlib knows these options (they are experimental and may go)."""
    try:
        jax.jit(lambda x: x + 1, compiler_options=options).lower(np.float32(0)).compile()
    except Exception:  # an unknown option or value: XLA raises its own runtime error
        return False
    return True


@functools.cache
def recommended_compiler_options(backend: str) -> dict[str, Any]:
    if backend == "cpu" and _accepted(_CPU_OPTIONS):
        return _CPU_OPTIONS
    return {}
