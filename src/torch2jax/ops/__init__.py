"""The built-in JAX lowerings, one module per domain; importing registers them."""

from torch2jax.ops import (  # noqa: F401
    counting_and_order,
    creation,
    distances,
    elementwise,
    embedding,
    fft,
    indexing,
    linalg,
    linalg_solvers,
    losses,
    nn,
    random,
    reductions,
    running_stats,
    scatter,
    segments,
    shape_and_views,
    special,
    value_sized,
    vision,
)
