"""The built-in JAX lowerings, one module per domain; importing registers them."""

from torch2jax.ops import (  # noqa: F401
    creation,
    elementwise,
    indexing,
    linalg,
    nn,
    reductions,
    shape_and_views,
    vision,
)
