"""Helpers for ``jax.export`` of converted code: a batch size that stays symbolic."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax


def batch_polymorphic(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` mapped over the leading axis of its positional arguments, one example at a time.

    PyTorch code needs concrete shapes, so a converted model cannot be traced with a symbolic
    batch dimension (``jax.export.symbolic_shape("b, ...")``) directly. The returned function runs
    ``fn`` under ``jax.vmap`` on a batch of one, so the PyTorch code sees static shapes while the
    batch size stays symbolic in the exported artifact. Keyword arguments (``state_dict=``,
    ``rng=``) are shared by all examples.

    This is right for models whose examples are independent (inference; batch norm in eval mode)
    and whose outputs all have the batch as leading axis. It is wrong for code that mixes examples
    (batch norm in training mode, a loss averaged over the batch): export those with a fixed batch
    size. With ``rng=``, every example gets the same random draws.
    """

    @functools.wraps(fn)
    def batched(*args: Any, **kwargs: Any) -> Any:
        def one_example(*example: Any) -> Any:
            as_batch_of_one = jax.tree_util.tree_map(lambda a: a[None], example)
            outputs = fn(*as_batch_of_one, **kwargs)
            for leaf in jax.tree_util.tree_leaves(outputs):
                if not leaf.shape or leaf.shape[0] != 1:
                    raise ValueError(
                        "torch2jax.batch_polymorphic: every output must have the batch as its "
                        f"leading axis; got an output of shape {leaf.shape} for a batch of one."
                    )
            return jax.tree_util.tree_map(lambda a: a[0], outputs)

        return jax.vmap(one_example)(*args)

    return batched
