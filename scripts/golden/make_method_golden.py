#!/usr/bin/env python3
"""Golden values for the bias-aware training methods (issue 23), in float64.

    python scripts/golden/make_method_golden.py   # writes Tests/Fixtures/methods.safetensors

- group_dro: the online algorithm of kohpangwei/group_DRO (`LossComputer`): per step, each group's mean
  loss in the batch (0 for an absent group), q <- q * exp(eta * (l_g + C / sqrt(n_g))), normalised, and the
  robust loss sum_g q_g l_g (without the constant size term, which the reference adds in place; the gradient
  is the same), over three batches (the third lacks a group), with the gradient by the per-sample losses.
- adversarial_debiasing: AIF360's update on a fixed example: a one-logit linear predictor, the adversary
  s = sigmoid((1 + |c|) z), [s, s y, s (1 - y)] @ W + b with binary cross-entropy on the group, and the
  predictor's gradient g - (g . u) u - alpha * a per parameter tensor (u = a / ||a||, TensorFlow's
  l2_normalize), beside the adversary's own gradients.
"""
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

torch.manual_seed(23)
torch.set_default_dtype(torch.float64)
out = {}

# --- group DRO, the reference recursion ---
counts = torch.tensor([40.0, 10.0, 25.0, 5.0])
adjustment, step_size = 2.0, 0.1
q = torch.ones(4) / 4
batches = [
    torch.tensor([0, 1, 2, 3, 0, 2, 1, 0]),
    torch.tensor([3, 3, 1, 0, 2, 2, 0, 1]),
    torch.tensor([0, 0, 1, 2, 2, 1, 0, 2]),  # no group 3
]
for step, groups in enumerate(batches):
    losses = F.softplus(torch.randn(len(groups))).requires_grad_(True)
    group_map = (groups == torch.arange(4).unsqueeze(1)).double()
    group_count = group_map.sum(1)
    group_loss = (group_map @ losses.view(-1)) / (group_count + (group_count == 0).double())
    adjusted = group_loss.detach() + adjustment / torch.sqrt(counts)
    q = q * torch.exp(step_size * adjusted)
    q = q / q.sum()
    robust = group_loss @ q
    (gradient,) = torch.autograd.grad(robust, losses)
    out[f"group_dro.{step}.groups"] = groups
    out[f"group_dro.{step}.losses"] = losses.detach()
    out[f"group_dro.{step}.weights"] = q.clone()
    out[f"group_dro.{step}.loss"] = robust.detach().reshape(1)
    out[f"group_dro.{step}.gradient"] = gradient
out["group_dro.counts"] = counts

# --- adversarial debiasing, AIF360's projected update ---
x = torch.randn(6, 3)
y = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0, 0.0])
s = torch.tensor([1.0, 1.0, 0.0, 1.0, 0.0, 0.0])
predictor_weight = torch.randn(3, 1).requires_grad_(True)
predictor_bias = torch.randn(1).requires_grad_(True)
c = torch.tensor(1.0, requires_grad=True)
adversary_weight = torch.randn(3, 1).requires_grad_(True)
adversary_bias = torch.zeros(1).requires_grad_(True)
alpha = 0.1
logits = x @ predictor_weight + predictor_bias
predictor_loss = F.binary_cross_entropy_with_logits(logits.view(-1), y)
probability = torch.sigmoid((1 + c.abs()) * logits)
features = torch.cat([probability, probability * y.view(-1, 1), probability * (1 - y.view(-1, 1))], dim=1)
adversary_loss = F.binary_cross_entropy_with_logits((features @ adversary_weight + adversary_bias).view(-1), s)
predictor = [predictor_weight, predictor_bias]
adversary = [c, adversary_weight, adversary_bias]
own = torch.autograd.grad(predictor_loss, predictor, retain_graph=True)
away = torch.autograd.grad(adversary_loss, predictor + adversary)
for name, g, a in zip(["weight", "bias"], own, away[:2]):
    unit = a / torch.sqrt(torch.clamp((a * a).sum(), min=1e-12))
    out[f"adversarial.predictor_{name}_gradient"] = g - (g * unit).sum() * unit - alpha * a
for name, a in zip(["scale", "weight", "bias"], away[2:]):
    out[f"adversarial.adversary_{name}_gradient"] = a.reshape(-1) if a.dim() == 0 else a
out["adversarial.inputs"] = x
out["adversarial.labels"] = y
out["adversarial.groups"] = s
out["adversarial.predictor_weight"] = predictor_weight.detach()
out["adversarial.predictor_bias"] = predictor_bias.detach()
out["adversarial.adversary_weight"] = adversary_weight.detach()
out["adversarial.adversary_loss"] = adversary_loss.detach().reshape(1)

path = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "methods.safetensors")
save_file({k: v.contiguous() for k, v in out.items()}, path)
print(f"wrote {len(out)} tensors to {os.path.normpath(path)}")
