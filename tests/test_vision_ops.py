"""torchvision's operators (nms, roi_align) against torchvision's own kernels."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import torch
import torchvision

from tests.conftest import assert_close
from torch2jax import DataDependentShapeError, t2j


def _boxes(n: int, scale: float, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    boxes = torch.rand(n, 4, generator=generator) * scale
    boxes[:, 2:] += boxes[:, :2]
    return boxes


@pytest.mark.parametrize("sampling_ratio", [2, 0, -1])
@pytest.mark.parametrize("aligned", [False, True])
def test_roi_align(sampling_ratio, aligned):
    x = torch.randn(2, 3, 10, 12, generator=torch.Generator().manual_seed(0))
    image = torch.tensor([0, 1, 1, 0, 1, 0, 0], dtype=torch.float32)[:, None]
    rois = torch.cat([image, _boxes(7, 9.0, 1) * 0.8 - 1.0], 1)

    def pool(x, rois):
        return torchvision.ops.roi_align(
            x, rois, (3, 2), spatial_scale=0.7, sampling_ratio=sampling_ratio, aligned=aligned
        )

    assert_close(t2j(pool)(t2j(x), t2j(rois)), pool(x, rois))
    if sampling_ratio > 0:
        assert_close(jax.jit(t2j(pool))(t2j(x), t2j(rois)), pool(x, rois))
    else:
        with pytest.raises(DataDependentShapeError, match="sampling_ratio"):
            jax.jit(t2j(pool))(t2j(x), t2j(rois))


def test_roi_align_gradient():
    x = torch.randn(1, 2, 8, 8, generator=torch.Generator().manual_seed(0), requires_grad=True)
    rois = torch.cat([torch.zeros(4, 1), _boxes(4, 5.0, 2)], 1)

    def loss(x):
        return torchvision.ops.roi_align(x, rois, (2, 2), 1.0, 2, True).square().sum()

    loss(x).backward()
    grad = jax.grad(t2j(loss))(t2j(x.detach()))
    assert_close(grad, x.grad)


def test_nms_eager_and_clear_error_under_jit():
    boxes = _boxes(60, 20.0, 3)
    scores = torch.rand(60, generator=torch.Generator().manual_seed(4))
    scores[7] = scores[11]  # a tie: kept in index order, as torchvision's stable sort does
    expected = torchvision.ops.nms(boxes, scores, 0.3)
    np.testing.assert_array_equal(
        np.asarray(t2j(torchvision.ops.nms)(t2j(boxes), t2j(scores), 0.3)), expected.numpy()
    )
    with pytest.raises(DataDependentShapeError, match="nms"):
        jax.jit(lambda b, s: t2j(torchvision.ops.nms)(b, s, 0.3))(t2j(boxes), t2j(scores))
