#!/usr/bin/env python3
"""Golden values for metrics.iou_xai{threshold = "box"}: the weakly supervised localisation rule of CAM
(Zhou et al. 2016) and Grad-CAM (Selvaraju et al. 2017), computed with SciPy in float64.

    python scripts/golden/make_iou_box_golden.py   # writes Tests/Fixtures/iou_box.safetensors

Per sample: pixels >= relative * max(map); scipy.ndimage.label with 8-connectivity; the largest component (most
pixels; the lowest label, i.e. the first in raster order, on a tie); its bounding box against the bounding box of
the mask's pixels; IoU counted in whole pixels. Maps are Gaussian-smoothed noise (several blobs, so that the largest
component matters); masks are thresholded smoothed noise. box.<tag>.iou holds the per-sample IoU for relative
0.15 and box.<tag>.iou50 for relative 0.5.
"""
import numpy as np
import scipy.ndimage as ndimage
import torch
from safetensors.torch import save_file


def box(pixels):
    rows, columns = pixels
    return rows.min(), columns.min(), rows.max(), columns.max()


def box_iou(a, b):
    rows = min(a[2], b[2]) - max(a[0], b[0]) + 1
    columns = min(a[3], b[3]) - max(a[1], b[1]) + 1
    overlap = rows * columns if rows > 0 and columns > 0 else 0
    area = lambda r: (r[2] - r[0] + 1) * (r[3] - r[1] + 1)
    return overlap / (area(a) + area(b) - overlap)


def score(heatmap, mask, relative):
    kept = heatmap >= relative * heatmap.max()
    labels, count = ndimage.label(kept, structure=np.ones((3, 3)))
    sizes = ndimage.sum(np.ones_like(labels), labels, index=np.arange(1, count + 1))
    largest = 1 + int(np.argmax(sizes))
    return box_iou(box(np.nonzero(labels == largest)), box(np.nonzero(mask)))


rng = np.random.default_rng(261)
tensors = {}
for tag, (height, width) in [("square", (28, 28)), ("oblong", (13, 11))]:
    maps = np.stack([ndimage.gaussian_filter(rng.random((height, width)), 1.5) for _ in range(12)])
    maps = (maps - maps.min(axis=(1, 2), keepdims=True)) ** 2  # a positive maximum, several separate blobs
    masks = np.stack([ndimage.gaussian_filter(rng.random((height, width)), 2.0) for _ in range(12)])
    masks = (masks > np.quantile(masks, 0.7, axis=(1, 2), keepdims=True)).astype(np.float64)
    tensors[f"box.{tag}.maps"] = torch.from_numpy(maps)
    tensors[f"box.{tag}.masks"] = torch.from_numpy(masks)
    tensors[f"box.{tag}.iou"] = torch.tensor([score(m, k, 0.15) for m, k in zip(maps, masks)], dtype=torch.float64)
    tensors[f"box.{tag}.iou50"] = torch.tensor([score(m, k, 0.5) for m, k in zip(maps, masks)], dtype=torch.float64)
save_file({name: value.contiguous() for name, value in tensors.items()}, "Tests/Fixtures/iou_box.safetensors")
print("wrote Tests/Fixtures/iou_box.safetensors:", {k: v.shape for k, v in tensors.items() if "iou" in k},
      "means", [float(tensors[k].mean()) for k in tensors if "iou" in k])
