#!/usr/bin/env python3
"""Golden token attributions (Tests/Fixtures/token_explainers.safetensors) from Captum's layer methods on a
small float64 token classifier: Embedding(12, 4, padding_idx=0) -> Flatten -> Linear(20, 8) -> ReLU ->
Linear(8, 3), four sequences of five token ids (0 = padding). LayerIntegratedGradients on the embedding
(baseline: all-padding ids, whose embedding is zero; 16 Gauss-Legendre steps) and the embedding-output
gradient (LayerGradientXActivation with multiply_by_inputs=False).

    python scripts/golden/make_token_golden.py     # venv with torch, safetensors, captum
"""
import os

import torch
import torch.nn as nn
from captum.attr import LayerGradientXActivation, LayerIntegratedGradients
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "token_explainers.safetensors")
torch.manual_seed(5)
torch.set_default_dtype(torch.float64)
model = nn.Sequential(nn.Embedding(12, 4, padding_idx=0), nn.Flatten(), nn.Linear(20, 8), nn.ReLU(), nn.Linear(8, 3))
model.eval()
tokens = torch.tensor([[3, 7, 1, 0, 0], [11, 2, 2, 5, 9], [4, 0, 0, 0, 0], [6, 8, 10, 3, 1]])
targets = torch.tensor([0, 2, 1, 2])
ig = LayerIntegratedGradients(model, model[0]).attribute(tokens, baselines=torch.zeros_like(tokens), target=targets,
                                                         n_steps=16, method="gausslegendre")
gradient = LayerGradientXActivation(model, model[0], multiply_by_inputs=False).attribute(tokens, target=targets)
out = {f"model.{k}": v.detach().clone().contiguous() for k, v in model.state_dict().items()}
out.update({"tokens": tokens, "targets": targets, "integrated_gradients": ig.detach(), "gradient": gradient.detach()})
for name, value in out.items():
    print(f"{name:28s} {tuple(value.shape)}")
save_file(out, OUT)
