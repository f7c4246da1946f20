"""Multi-dimensional histograms (``torch.histogramdd``), which PyTorch builds from three ATen
operations: the bin edges from bin counts, then the histogram from bin counts or from edges."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp

from torch2jax.ops._common import aten
from torch2jax.registry import implements


def _points(x: Any) -> Any:
    """The input as (N, D) points: its last dimension holds the coordinates."""
    return x.reshape(-1, x.shape[-1])


def _outer_edges(points: Any, dim: int, value_range: Sequence[float] | None) -> tuple[Any, Any]:
    """The first and last edge of one dimension: the range, else the data's extremes, widened
    by 0.5 on each side where they coincide ([0, 1] for no data), as in PyTorch."""
    if value_range is not None:
        low = jnp.asarray(value_range[2 * dim], points.dtype)
        high = jnp.asarray(value_range[2 * dim + 1], points.dtype)
    elif points.shape[0] == 0:
        return jnp.asarray(0, points.dtype), jnp.asarray(1, points.dtype)
    else:
        low, high = jnp.min(points[:, dim]), jnp.max(points[:, dim])
    same = low == high
    return jnp.where(same, low - 0.5, low), jnp.where(same, high + 0.5, high)


@implements(aten._histogramdd_bin_edges)
def histogramdd_bin_edges(
    x: Any,
    bins: Sequence[int],
    *,
    range: Sequence[float] | None = None,
    weight: Any = None,
    density: bool = False,
) -> list[Any]:
    points = _points(x)
    edges = []
    for dim, count in enumerate(bins):
        low, high = _outer_edges(points, dim, range)
        edges.append(jnp.linspace(low, high, count + 1).astype(x.dtype))
    return edges


def _histogram(x: Any, edges: Sequence[Any], weight: Any, density: bool) -> Any:
    """Counts (or weights) of the points per bin; a point on a dimension's last edge falls in
    its last bin, points outside the edges are not counted."""
    points = _points(x)
    shape = tuple(e.shape[0] - 1 for e in edges)
    flat = jnp.zeros(points.shape[0], jnp.int32)
    inside = jnp.ones(points.shape[0], bool)
    for dim, edge in enumerate(edges):
        coordinate = points[:, dim]
        position = jnp.searchsorted(edge, coordinate, side="right") - 1
        position = jnp.clip(position, 0, shape[dim] - 1)
        inside = inside & (coordinate >= edge[0]) & (coordinate <= edge[-1])
        flat = flat * shape[dim] + position.astype(jnp.int32)
    increments = jnp.ones(points.shape[0], x.dtype) if weight is None else weight.reshape(-1)
    size = math.prod(shape)
    hist = (
        jnp.zeros(size, x.dtype)
        .at[jnp.where(inside, flat, size)]
        .add(increments.astype(x.dtype), mode="drop")
    )
    hist = hist.reshape(shape)
    if density:
        volume = jnp.ones((), x.dtype)
        for dim, edge in enumerate(edges):
            widths = jnp.diff(edge).astype(x.dtype)
            volume = volume[..., None] * widths.reshape((1,) * dim + (-1,))
        hist = hist / (jnp.sum(hist) * volume)
    return hist


@implements(aten._histogramdd_from_bin_cts)
def histogramdd_from_bin_counts(
    x: Any,
    bins: Sequence[int],
    *,
    range: Sequence[float] | None = None,
    weight: Any = None,
    density: bool = False,
) -> Any:
    edges = histogramdd_bin_edges(x, bins, range=range)
    return _histogram(x, edges, weight, density)


@implements(aten._histogramdd_from_bin_tensors)
def histogramdd_from_bin_tensors(
    x: Any, bins: Sequence[Any], *, weight: Any = None, density: bool = False
) -> Any:
    return _histogram(x, bins, weight, density)


@implements(aten.histogram.bins_tensor)
def histogram_from_edges(
    x: Any, bins: Any, *, weight: Any = None, density: bool = False
) -> tuple[Any, Any]:
    """``torch.histogram`` with the bin edges given: the one-dimensional case of the above (the
    last edge inclusive, values outside the edges and NaN not counted); the edges come back as
    the second output."""
    return _histogram(x.reshape(-1, 1), [bins], weight, density), bins
