#!/usr/bin/env python3
"""Golden explanation-shift values (Tests/Fixtures/explanation_shift.safetensors): per-sample Spearman rank
correlation from scipy.stats.spearmanr (average ranks for ties) and the IoU of the top-k features (k = top x
features rounded half up, ties by position: numpy's stable argsort of the negated values) between pairs of
maps with ReLU-style ties, as Ghorbani et al. (AAAI 2019) compare a map and its perturbed copy.

    python scripts/golden/make_explanation_shift_golden.py     # venv with numpy, scipy, torch, safetensors
"""
import math
import os

import numpy as np
import torch
from safetensors.torch import save_file
from scipy.stats import spearmanr

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "explanation_shift.safetensors")
rng = np.random.default_rng(5)
first = np.maximum(rng.normal(size=(5, 1, 6, 6)), 0).round(1)          # zeros and rounded values: ties
second = np.maximum(first + rng.normal(scale=0.6, size=first.shape), 0).round(1)
second[4] = first[4]                                                       # identical maps: IoU 1, correlation 1
out = {"first": torch.tensor(first), "second": torch.tensor(second)}
for top in (0.2, 0.5):
    k = max(1, math.floor(top * 36 + 0.5))
    ious, rhos = [], []
    for a, b in zip(first.reshape(5, -1), second.reshape(5, -1)):
        ta, tb = set(np.argsort(-a, kind="stable")[:k]), set(np.argsort(-b, kind="stable")[:k])
        ious.append(len(ta & tb) / len(ta | tb))
        rhos.append(spearmanr(a, b).statistic)
    out[f"iou.{top}"] = torch.tensor(ious)
    out[f"rank_correlation.{top}"] = torch.tensor(rhos)
save_file({k: v.contiguous() for k, v in out.items()}, OUT)
print("wrote", OUT, {k: v.tolist() for k, v in out.items() if "." in k})
