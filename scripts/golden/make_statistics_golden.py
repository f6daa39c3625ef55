#!/usr/bin/env python3
"""Golden values for SampleStatistics (issue 26's paper report), from SciPy in float64.

    python scripts/golden/make_statistics_golden.py   # writes Tests/Fixtures/statistics.safetensors

- t.quantile: scipy.stats.t.ppf(p, df) for the probabilities in t.probabilities and the degrees of freedom in
  t.degrees (row per probability, column per df).
- t.cdf: scipy.stats.t.cdf(x, df) for x in t.points, same degrees.
- interval.*: scipy.stats.t.interval(0.95, n - 1, loc=mean, scale=sem) of three random samples (3, 5 and 10
  values), as [lower, upper].
"""
import numpy as np
import scipy.stats
import torch
from safetensors.torch import save_file

probabilities = np.array([0.6, 0.9, 0.95, 0.975, 0.995, 0.9995, 0.025, 0.1])
degrees = np.array([1, 2, 3, 4, 5, 9, 29, 100, 0.5, 2.5])
points = np.array([-30.0, -3.0, -0.5, 0.0, 0.3, 1.0, 2.0, 4.3, 12.7, 100.0])
tensors = {
    "t.probabilities": torch.from_numpy(probabilities),
    "t.degrees": torch.from_numpy(degrees),
    "t.points": torch.from_numpy(points),
    "t.quantile": torch.from_numpy(scipy.stats.t.ppf(probabilities[:, None], degrees[None, :])),
    "t.cdf": torch.from_numpy(scipy.stats.t.cdf(points[:, None], degrees[None, :])),
}
rng = np.random.default_rng(26)
for count in [3, 5, 10]:
    sample = rng.normal(0.9, 0.02, count)
    lower, upper = scipy.stats.t.interval(0.95, count - 1, loc=sample.mean(), scale=scipy.stats.sem(sample))
    tensors[f"interval.{count}.values"] = torch.from_numpy(sample)
    tensors[f"interval.{count}.bounds"] = torch.from_numpy(np.array([lower, upper]))
save_file({name: value.contiguous() for name, value in tensors.items()}, "Tests/Fixtures/statistics.safetensors")
print("wrote Tests/Fixtures/statistics.safetensors:", len(tensors), "tensors")
