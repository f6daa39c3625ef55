#!/usr/bin/env python3
"""Golden values for the generation metrics (issue 25), from scikit-image and scikit-learn in float64.

    LUCERNA_DATA=../shared/data python scripts/golden/make_generation_golden.py
    # writes Tests/Fixtures/generation.safetensors

- ssim.*: skimage.metrics.structural_similarity(a, b, data_range=1.0, gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False) on random grey pairs (16x16 and 13x11, b a noisy copy of a at several noise
  levels), on colour pairs [3, 16, 16] (channel_axis=0: the channels' mean), and on pairs of real MNIST test
  digits (the fixture holds only their indices; the test reads the images from LUCERNA_DATA).
- nmi.*: sklearn.metrics.normalized_mutual_info_score on random labelings, for each average_method.
- fid.*: pytorch-fid's calculate_frechet_distance (NumPy means, np.cov, scipy.linalg.sqrtm) on two random
  feature sets of 16 dimensions (300 and 250 samples, one shifted and stretched).
- kid.*: the unbiased MMD² with the kernel (x.y/d + 1)^3 (torch-fidelity's / clean-fid's kernel_distance) on two
  sets of 120 samples, as one subset of every sample (the value does not depend on the draw then).
"""
import gzip
import os

import numpy as np
import scipy.linalg
import torch
from safetensors.torch import save_file
from skimage.metrics import structural_similarity
from sklearn.metrics import normalized_mutual_info_score


def ssim(a, b, **extra):
    return structural_similarity(a, b, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, **extra)


rng = np.random.default_rng(25)
tensors = {}
for tag, (height, width) in [("square", (16, 16)), ("oblong", (13, 11))]:
    first = rng.random((4, height, width))
    noise = np.array([0.05, 0.2, 0.5, 1.0])[:, None, None] * rng.standard_normal((4, height, width))
    second = np.clip(first + noise, 0, 1)
    tensors[f"ssim.{tag}.first"] = torch.from_numpy(first)
    tensors[f"ssim.{tag}.second"] = torch.from_numpy(second)
    tensors[f"ssim.{tag}.values"] = torch.tensor([ssim(a, b) for a, b in zip(first, second)], dtype=torch.float64)

first = rng.random((2, 3, 16, 16))
second = np.clip(first + 0.3 * rng.standard_normal(first.shape), 0, 1)
tensors["ssim.colour.first"] = torch.from_numpy(first)
tensors["ssim.colour.second"] = torch.from_numpy(second)
tensors["ssim.colour.values"] = torch.tensor(
    [ssim(a, b, channel_axis=0) for a, b in zip(first, second)], dtype=torch.float64)

with gzip.open(os.path.join(os.environ.get("LUCERNA_DATA", "../shared/data"), "mnist/t10k-images-idx3-ubyte.gz")) as f:
    digits = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28).astype(np.float64) / 255
pairs = np.array([[0, 1], [0, 17], [3, 10], [5, 40], [7, 7], [100, 200]], dtype=np.int64)
tensors["ssim.mnist.pairs"] = torch.from_numpy(pairs)
tensors["ssim.mnist.values"] = torch.tensor([ssim(digits[i], digits[j]) for i, j in pairs], dtype=torch.float64)

truth = rng.integers(0, 5, 300)
predicted = np.where(rng.random(300) < 0.6, truth + 2, rng.integers(0, 7, 300))
tensors["nmi.truth"] = torch.from_numpy(truth.astype(np.int64))
tensors["nmi.predicted"] = torch.from_numpy(predicted.astype(np.int64))
for method in ["arithmetic", "geometric", "min", "max"]:
    tensors[f"nmi.{method}"] = torch.tensor([normalized_mutual_info_score(truth, predicted, average_method=method)],
                                            dtype=torch.float64)

def frechet_distance(first, second):
    mu1, mu2 = first.mean(0), second.mean(0)
    sigma1, sigma2 = np.cov(first, rowvar=False), np.cov(second, rowvar=False)
    covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    diff = mu1 - mu2
    return diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean)


first = rng.standard_normal((300, 16))
second = 0.3 + rng.standard_normal((250, 16)) @ (np.eye(16) + 0.2 * rng.standard_normal((16, 16)))
tensors["fid.first"] = torch.from_numpy(first)
tensors["fid.second"] = torch.from_numpy(second)
tensors["fid.value"] = torch.tensor([frechet_distance(first, second)], dtype=torch.float64)
tensors["fid.same"] = torch.tensor([frechet_distance(first, first)], dtype=torch.float64)


def kernel_distance(x, y):
    d, m = x.shape[1], x.shape[0]
    a = (x @ x.T / d + 1) ** 3 + (y @ y.T / d + 1) ** 3
    b = (x @ y.T / d + 1) ** 3
    return ((a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m) / m


first = rng.standard_normal((120, 8))
second = 0.2 + 1.1 * rng.standard_normal((120, 8))
tensors["kid.first"] = torch.from_numpy(first)
tensors["kid.second"] = torch.from_numpy(second)
tensors["kid.value"] = torch.tensor([kernel_distance(first, second)], dtype=torch.float64)

path = os.path.join(os.path.dirname(__file__), "../../Tests/Fixtures/generation.safetensors")
save_file(tensors, path)
for name, value in tensors.items():
    if "values" in name or value.numel() == 1:
        print(name, value.numpy())
