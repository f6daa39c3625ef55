#!/usr/bin/env python3
"""Golden values for Reveal-to-Revise's Localise and Revise steps (issue 24), in float64.

    python scripts/golden/make_localisation_golden.py   # writes Tests/Fixtures/localisation.safetensors

- cav_features / cav_labels: 90 samples of 12 features, 20 with a concept (a shift along a fixed direction).
- svm_cav / svm_cav_default: scikit-learn LinearSVC(fit_intercept=False, class_weight="balanced", C=1)
  weights, unit length: converged (tol 1e-10) and with the defaults (tol 1e-4, max_iter 1000).
- signal_cav: Reveal2Revise's signal CAV cov(X, y) / var(y), unit length.
- clarc_activations [6, 3, 4, 4], clarc_cav [3], clarc_z: P-ClArC's x + v (z - v^T maxpool(x)) per sample.
- mask_heatmaps [3, 28, 28] and mask_expected: R2R's mask rule with torchvision's GaussianBlur(41, 8):
  (h / max > 0.1), blurred, (b / max > 0.3).
"""
import os

import numpy as np
import torch
import torchvision
from safetensors.torch import save_file
from sklearn.svm import LinearSVC

rng = np.random.default_rng(2024)
count, width, concept = 90, 12, 20
direction = rng.normal(size=width)
features = rng.normal(size=(count, width))
labels = np.zeros(count, dtype=np.int64)
labels[rng.permutation(count)[:concept]] = 1
features[labels == 1] += 1.5 * direction / np.linalg.norm(direction)
features += 0.3  # no intercept: the data are not centred


def unit(vector):
    return vector / np.linalg.norm(vector)


converged = LinearSVC(fit_intercept=False, class_weight="balanced", C=1.0, tol=1e-10, max_iter=1_000_000)
default = LinearSVC(fit_intercept=False, class_weight="balanced", C=1.0, random_state=0)
svm_cav = unit(converged.fit(features, labels).coef_[0])
svm_cav_default = unit(default.fit(features, labels).coef_[0])

y = labels.astype(np.float64)
residuals = features - features.mean(axis=0)
signal_cav = unit((residuals * (y - y.mean())[:, None]).sum(0) / (count - 1) / (((y - y.mean()) ** 2).sum() / (count - 1)))

activations = np.abs(rng.normal(size=(6, 3, 4, 4)))
clarc_cav = unit(rng.normal(size=3))
clarc_z = 0.7
lengths = (activations.reshape(6, 3, -1).max(2) * clarc_cav).sum(1)
clarc_expected = activations + (clarc_z - lengths)[:, None, None, None] * clarc_cav[None, :, None, None]

heatmaps = rng.random((3, 28, 28)) * 0.05
heatmaps[0, 20:26, 20:26] += 1.0
heatmaps[1, 2:5, 3:9] += 0.8
heatmaps[1, 15:18, 15:17] += 0.5
heatmaps[2] -= 0.5  # mostly negative: the rule keeps the positive peaks only
heatmaps[2, 10:12, 10:12] += 2.0
blur = torchvision.transforms.GaussianBlur(kernel_size=41, sigma=8.0)
maps = torch.tensor(heatmaps)
masks = 1.0 * (maps / maps.abs().flatten(start_dim=1).max(1)[0][:, None, None] > 0.1)
masks = blur(masks.clamp(min=0))
masks = 1.0 * (masks / masks.abs().flatten(start_dim=1).max(1)[0][:, None, None] > 0.3)

tensors = {
    "cav_features": torch.tensor(features), "cav_labels": torch.tensor(labels),
    "svm_cav": torch.tensor(svm_cav), "svm_cav_default": torch.tensor(svm_cav_default),
    "signal_cav": torch.tensor(signal_cav),
    "clarc_activations": torch.tensor(activations), "clarc_cav": torch.tensor(clarc_cav),
    "clarc_z": torch.tensor([clarc_z], dtype=torch.float64), "clarc_expected": torch.tensor(clarc_expected),
    "mask_heatmaps": torch.tensor(heatmaps), "mask_expected": masks.to(torch.float64),
}
path = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "localisation.safetensors")
save_file({name: value.contiguous() for name, value in tensors.items()}, path)
print("wrote", os.path.normpath(path), "| mask cells:", masks.sum((1, 2)).tolist())
