#!/usr/bin/env python3
"""Golden values for adversarial weight perturbation (Tests/Fixtures/awp.safetensors), in float64, following the
reference implementation's algorithm (github.com/csdongxian/AWP, utils_awp.py): a proxy copy of the model in
training mode takes one SGD step (lr 0.01) on the negated training objective at the adversarial examples; each
weight of rank >= 2 named "weight" gets the difference scaled to the weight's norm, ||w|| / (||d|| + 1e-20) * d;
the model adds gamma times it, computes the objective, steps, and subtracts gamma times it again.

- trades: TRADES' objective (cross-entropy + beta * KL(softmax(f(x)) || softmax(f(x'))), batchmean) with fixed
  x' near x, beta 6, gamma 0.005, one SGD step of lr 0.1: the directions, the terms at the perturbed weights and
  the weights after the step and the restore.
- pgd: PGD training's objective (cross-entropy at x'), here x' = x (a zero budget, so the Swift trainer can run
  the same step end to end), gamma 0.01, one SGD step of lr 0.1: the weights after the step.

    python scripts/golden/make_awp_golden.py     # venv with torch and safetensors
"""
import copy
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "awp.safetensors")
torch.manual_seed(31)
torch.set_default_dtype(torch.float64)


class MLP(nn.Module):
    """Lucerna's MLP: fc1, ReLU, fc2, ReLU, fc3."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(3, 6), nn.Linear(6, 5), nn.Linear(5, 4)

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


def trades_objective(model, x, x_adv, y, beta):
    logits = model(x)
    natural = F.cross_entropy(logits, y)
    robust = F.kl_div(F.log_softmax(model(x_adv), dim=1), F.softmax(logits, dim=1), reduction="batchmean")
    return natural, beta * robust


def awp_directions(model, objective):
    """The reference's calc_awp + diff_in_weights: a proxy's SGD step on -objective, scaled per weight."""
    proxy = copy.deepcopy(model)
    proxy.train()
    optimizer = torch.optim.SGD(proxy.parameters(), lr=0.01)
    optimizer.zero_grad()
    (-1.0 * sum(objective(proxy))).backward()
    optimizer.step()
    directions = {}
    for (name, old), (_, new) in zip(model.state_dict().items(), proxy.state_dict().items()):
        if old.dim() > 1 and "weight" in name:
            difference = new - old
            directions[name] = old.norm() / (difference.norm() + 1e-20) * difference
    return directions


def add_into_weights(model, directions, coefficient):
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name in directions:
                parameter.add_(coefficient * directions[name])


def awp_step(model, objective, gamma, lr):
    directions = awp_directions(model, objective)
    add_into_weights(model, directions, gamma)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    optimizer.zero_grad()
    terms = objective(model)
    sum(terms).backward()
    optimizer.step()
    add_into_weights(model, directions, -gamma)
    return directions, terms


out = {}
x = torch.randn(8, 3)
y = torch.tensor([0, 1, 2, 3, 1, 2, 0, 3])
out["inputs"], out["labels"] = x, y

model = MLP()
out.update({f"trades.model.{k}": v.clone() for k, v in model.state_dict().items()})
x_adv = x + (torch.rand_like(x) * 2 - 1) * 0.1
out["trades.adversarial_inputs"] = x_adv
directions, terms = awp_step(model, lambda m: trades_objective(m, x, x_adv, y, 6.0), gamma=0.005, lr=0.1)
out.update({f"trades.direction.{k}": v for k, v in directions.items()})
out["trades.natural"] = terms[0].detach().reshape(1)
out["trades.robust"] = terms[1].detach().reshape(1)
out.update({f"trades.after.{k}": v.clone() for k, v in model.state_dict().items()})

model = MLP()
out.update({f"pgd.model.{k}": v.clone() for k, v in model.state_dict().items()})
awp_step(model, lambda m: (F.cross_entropy(m(x), y),), gamma=0.01, lr=0.1)
out.update({f"pgd.after.{k}": v.clone() for k, v in model.state_dict().items()})

save_file({k: v.contiguous() for k, v in out.items()}, OUT)
print(f"wrote {len(out)} tensors to {OUT}")
