"""torchvision's own operators (``torch.ops.torchvision.*``): ``nms`` and ``roi_align``, which
torchvision's detection models call.

torchvision is optional and slow to import, so these register the first time a
``torchvision::`` operation reaches the registry (an operation of that namespace exists only once
torchvision is loaded).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from torch2jax import registry
from torch2jax.eager_ops import is_traced
from torch2jax.errors import DataDependentShapeError
from torch2jax.ops.reductions import index_dtype


def _concrete(*xs: Any) -> bool:
    return not any(is_traced(x) for x in xs)


def nms(boxes: Any, scores: Any, iou_threshold: float) -> Any:
    """Greedy non-maximum suppression, as torchvision's CPU kernel: boxes in descending score
    order (stable), each dropping the later ones that overlap it by IoU > threshold."""
    if not _concrete(boxes, scores):
        raise DataDependentShapeError(
            "torchvision.ops.nms (torchvision::nms)",
            "The number of boxes it keeps depends on their scores and overlaps.",
        )
    boxes = np.asarray(boxes)
    scores = np.asarray(scores)
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = (boxes[:, i] for i in range(4))
    areas = (x2 - x1) * (y2 - y1)
    suppressed = np.zeros(len(boxes), dtype=bool)
    keep = []
    for position, i in enumerate(order):
        if suppressed[i]:
            continue
        keep.append(i)
        rest = order[position + 1 :]
        width = np.maximum(0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        height = np.maximum(0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        intersection = width * height
        iou = intersection / (areas[i] + areas[rest] - intersection)
        suppressed[rest[iou > iou_threshold]] = True
    return jnp.asarray(np.asarray(keep, dtype=np.int64), dtype=index_dtype())


def _axis_weights(
    start: Any, bin_size: Any, pooled: int, grid: int, grid_used: Any, size: int
) -> Any:
    """(rois, pooled, size) weights that average the bilinear samples of each bin along one axis.

    Sample g of bin p sits at ``start + p * bin + (g + 0.5) * bin / grid_used`` (torchvision's
    roi_align); samples beyond ``grid_used`` (an roi's own adaptive grid) weigh 0.
    """
    p = jnp.arange(pooled)[None, :, None]
    g = jnp.arange(grid)[None, None, :]
    step = (bin_size / grid_used)[:, None, None]
    coord = start[:, None, None] + p * bin_size[:, None, None] + (g + 0.5) * step
    inside = (coord >= -1.0) & (coord <= size) & (g < grid_used[:, None, None])
    coord = jnp.maximum(coord, 0.0)
    low = jnp.floor(coord).astype(jnp.int32)
    at_edge = low >= size - 1
    low = jnp.where(at_edge, size - 1, low)
    high = jnp.where(at_edge, size - 1, low + 1)
    coord = jnp.where(at_edge, low.astype(coord.dtype), coord)
    frac = coord - low
    weights = (
        jax.nn.one_hot(low, size, dtype=coord.dtype) * (1 - frac)[..., None]
        + jax.nn.one_hot(high, size, dtype=coord.dtype) * frac[..., None]
    )
    return jnp.sum(weights * inside[..., None], axis=2)


def roi_align(
    x: Any,
    rois: Any,
    spatial_scale: float,
    pooled_height: int,
    pooled_width: int,
    sampling_ratio: int,
    aligned: bool,
) -> Any:
    """Average of bilinear samples on a regular grid in each bin of each box (torchvision's
    roi_align). Bilinear sampling is separable, so each box becomes a (pooled, H) and a
    (pooled, W) weight matrix and the pooling one contraction with the feature map."""
    _, _, height, width = x.shape
    rois = jax.lax.stop_gradient(rois)  # torchvision gives no gradient for the boxes either
    compute = jnp.promote_types(x.dtype, jnp.float32)
    boxes = rois[:, 1:].astype(compute) * spatial_scale - (0.5 if aligned else 0.0)
    start_w, start_h, end_w, end_h = (boxes[:, i] for i in range(4))
    roi_w, roi_h = end_w - start_w, end_h - start_h
    if not aligned:
        roi_w, roi_h = jnp.maximum(roi_w, 1.0), jnp.maximum(roi_h, 1.0)
    bin_h, bin_w = roi_h / pooled_height, roi_w / pooled_width
    if sampling_ratio > 0:
        grid_h = grid_w = sampling_ratio
        used_h = jnp.full(roi_h.shape, sampling_ratio, compute)
        used_w = used_h
    else:
        if not _concrete(rois):
            raise DataDependentShapeError(
                "torchvision.ops.roi_align with sampling_ratio<=0",
                "Its sampling grid follows each box's size. Pass a positive sampling_ratio.",
            )
        used_h = jnp.ceil(roi_h / pooled_height)
        used_w = jnp.ceil(roi_w / pooled_width)
        grid_h = max(1, int(used_h.max(initial=1)))
        grid_w = max(1, int(used_w.max(initial=1)))
    weights_h = _axis_weights(start_h, bin_h, pooled_height, grid_h, used_h, height)
    weights_w = _axis_weights(start_w, bin_w, pooled_width, grid_w, used_w, width)
    count = jnp.maximum(used_h * used_w, 1.0)
    image = jax.nn.one_hot(rois[:, 0].astype(jnp.int32), x.shape[0], dtype=compute)
    out = jnp.einsum(
        "kn,kph,nchw,kqw->kcpq",
        image,
        weights_h,
        x.astype(compute),
        weights_w,
        precision=jax.lax.Precision.HIGHEST,
    )
    return (out / count[:, None, None, None]).astype(x.dtype)


def register() -> None:
    import torch

    ops = torch.ops.torchvision
    registry.implements(ops.nms.default)(nms)
    registry.implements(ops.roi_align.default)(roi_align)


registry.lazy_namespaces["torchvision"] = register
