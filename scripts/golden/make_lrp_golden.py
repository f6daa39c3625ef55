#!/usr/bin/env python3
"""Golden LRP relevances (Tests/Fixtures/lrp.safetensors) from Zennit, on a small CNN with a BatchNorm (so
canonisation matters), max and average pooling, and fixed random float64 weights and inputs in [0, 1]:

    0 Conv2d(1, 4, 3, padding=1)  1 BatchNorm2d(4)  2 ReLU  3 MaxPool2d(2)
    4 Conv2d(4, 8, 3, padding=1)  5 ReLU  6 AvgPool2d(2)  7 Flatten  8 Linear(128, 16)  9 ReLU  10 Linear(16, 5)

For each Zennit composite (with SequentialMergeBatchNorm) and for each single rule on every layer with a
weight (a LayerMapComposite over Zennit's base map), the relevance of the input for the given targets, with
output relevance = the target logit (Lucerna's output = "score"), and one composite with a one-hot output.

    python scripts/golden/make_lrp_golden.py     # venv with torch, safetensors, zennit
"""
import os

import torch
import torch.nn as nn
from safetensors.torch import save_file
from zennit.attribution import Gradient
from zennit.canonizers import SequentialMergeBatchNorm
from zennit.composites import (EpsilonAlpha2Beta1, EpsilonAlpha2Beta1Flat, EpsilonGammaBox, EpsilonPlus,
                               EpsilonPlusFlat, LayerMapComposite, layer_map_base)
from zennit.core import Stabilizer
from zennit.rules import AlphaBeta, Epsilon, Flat, Gamma, WSquare, ZBox, ZPlus
from zennit.types import Linear as AnyLinear

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "lrp.safetensors")
torch.manual_seed(11)
torch.set_default_dtype(torch.float64)

model = nn.Sequential(
    nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
    nn.Linear(128, 16), nn.ReLU(), nn.Linear(16, 5))
with torch.no_grad():
    bn = model[1]
    bn.running_mean.copy_(torch.randn(4) * 0.3)
    bn.running_var.copy_(torch.rand(4) + 0.5)
    bn.weight.copy_(torch.rand(4) + 0.5)
    bn.bias.copy_(torch.randn(4) * 0.2)
model.eval()
inputs = torch.rand(6, 1, 16, 16)
targets = torch.tensor([0, 1, 2, 3, 4, 1])
state = {f"model.{k}": v.detach().clone().contiguous() for k, v in model.state_dict().items()}


def relevance(composite, one_hot=False):
    def output_relevance(output):
        mask = torch.nn.functional.one_hot(targets, 5).to(output)
        return mask if one_hot else mask * output
    with Gradient(model=model, composite=composite) as attributor:
        _, result = attributor(inputs.clone(), output_relevance)
    return result.detach().clone()


out = {"inputs": inputs, "targets": targets.to(torch.int64)}
out.update(state)
canonizers = lambda: [SequentialMergeBatchNorm()]  # noqa: E731
composites = {
    "epsilon_plus": EpsilonPlus(canonizers=canonizers()),
    "epsilon_plus_flat": EpsilonPlusFlat(canonizers=canonizers()),
    "epsilon_alpha2_beta1": EpsilonAlpha2Beta1(canonizers=canonizers()),
    "epsilon_alpha2_beta1_flat": EpsilonAlpha2Beta1Flat(canonizers=canonizers()),
    "epsilon_gamma_box": EpsilonGammaBox(low=0.0, high=1.0, canonizers=canonizers()),
}
for name, composite in composites.items():
    out[f"composite.{name}"] = relevance(composite)
out["composite.epsilon_plus.one_hot"] = relevance(EpsilonPlus(canonizers=canonizers()), one_hot=True)
out["composite.epsilon_plus.no_canonizer"] = relevance(EpsilonPlus())
rules = {
    "epsilon": Epsilon(epsilon=0.25), "gamma": Gamma(gamma=0.25), "z_plus": ZPlus(), "alpha_beta": AlphaBeta(alpha=2, beta=1),
    "flat": Flat(), "w_square": WSquare(), "z_box": ZBox(low=0.0, high=1.0),
    # The Lua plugin Plugins/rules/epsilon_rms.lua.
    "epsilon_rms": Epsilon(epsilon=Stabilizer(0.25, norm_scale=True)),
}
for name, rule in rules.items():
    composite = LayerMapComposite(layer_map=layer_map_base() + [(AnyLinear, rule)], canonizers=canonizers())
    out[f"rule.{name}"] = relevance(composite)
for name, value in out.items():
    print(f"{name:40s} {tuple(value.shape)} sum {float(value.double().sum()):.6f}")
save_file({k: v.contiguous() for k, v in out.items()}, OUT)
