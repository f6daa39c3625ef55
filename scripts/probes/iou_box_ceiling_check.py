#!/usr/bin/env python3
"""A NumPy/SciPy cross-check of scripts/probes/iou_xai_ceiling.lua's box-rule figures on MNIST (docs/results.md).

    python scripts/probes/iou_box_ceiling_check.py    # LUCERNA_DATA (default ../shared/data) holds mnist/

The first 2,000 test digits; the object mask is the pixels above 0.1. The map is the mask (or the image) average-
pooled to 14x14 and resized to 28x28 bilinearly with half-pixel centres and clamped edges (cv2.resize, as the CAM
explainers resize); the box rule keeps the pixels at or above 15 % of the map's maximum, takes the bounding box of
their largest 8-connected component and scores its IoU with the mask's bounding box, in whole pixels. Also
prints by how many pixels the pooled mask's box reaches past the digit's on each side.
"""
import gzip
import os

import numpy as np
from scipy import ndimage

folder = os.environ.get("LUCERNA_DATA", "../shared/data")
with gzip.open(os.path.join(folder, "mnist", "t10k-images-idx3-ubyte.gz")) as f:
    images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:2000] / 255.0


def upsample(grid):
    size = grid.shape[0]
    coords = (np.arange(28) + 0.5) * size / 28 - 0.5
    low = np.clip(np.floor(coords).astype(int), 0, size - 1)
    high = np.clip(low + 1, 0, size - 1)
    weight = np.where(coords < 0, 0.0, coords - np.floor(coords))
    rows = grid[low] * (1 - weight)[:, None] + grid[high] * weight[:, None]
    return rows[:, low] * (1 - weight)[None, :] + rows[:, high] * weight[None, :]


def box(pixels):
    rows, columns = np.where(pixels.any(1))[0], np.where(pixels.any(0))[0]
    return rows[0], rows[-1], columns[0], columns[-1]


def map_box(cam, relative=0.15):
    kept = cam >= relative * cam.max()
    labels, count = ndimage.label(kept, structure=np.ones((3, 3)))
    sizes = ndimage.sum(kept, labels, range(1, count + 1))
    return box(labels == np.argmax(sizes) + 1)


def iou(a, b):
    height = min(a[1], b[1]) - max(a[0], b[0]) + 1
    width = min(a[3], b[3]) - max(a[2], b[2]) + 1
    inter = max(0, height) * max(0, width)
    area = lambda q: (q[1] - q[0] + 1) * (q[3] - q[2] + 1)
    return inter / (area(a) + area(b) - inter)


for name in ("mask", "image"):
    scores, excess = [], []
    for image in images:
        mask = image > 0.1
        source = mask.astype(float) if name == "mask" else image
        found, truth = map_box(upsample(source.reshape(14, 2, 14, 2).mean((1, 3)))), box(mask)
        scores.append(iou(found, truth))
        excess.append((truth[0] - found[0], found[1] - truth[1], truth[2] - found[2], found[3] - truth[3]))
    print(f"the {name} pooled to 14x14: box IoU {np.mean(scores):.4f}; the box reaches past the digit's by "
          f"{np.round(np.mean(excess, 0), 2)} pixels (top, bottom, left, right)")
