#!/usr/bin/env python3
"""Golden values for the GAN layers (issue 25), from PyTorch in float64.

    python scripts/golden/make_gan_golden.py   # writes Tests/Fixtures/gan_layers.safetensors

- sn_<layer>.*: torch.nn.utils.spectral_norm on Linear(5, 4), Conv2d(2, 3, 3) and ConvTranspose2d(3, 2, 4,
  stride 2, padding 1) (dim 1, PyTorch's default for transposed convolutions) with fixed weights and fixed
  starting u and v: three training forwards (one power iteration each) on one input, the outputs, the final
  u and v, the gradients of sum(output ** 2) of the third forward by weight_orig and bias, and an
  evaluation-mode forward after them (no iteration).
- attention.*: SAGAN's Self_Attn (the reference code's module: 1x1 query/key convolutions to C/8, value to C,
  softmax over key positions, gamma * out + x) with C = 16 and gamma = 0.7 on [2, 16, 4, 5]; the output, the
  attention weights, and the gradients of sum(output ** 2) by every parameter and by the input.
"""
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
from torch_models import SelfAttention  # noqa: E402

torch.manual_seed(25)
torch.set_default_dtype(torch.float64)
tensors = {}

layers = {
    "linear": (torch.nn.Linear(5, 4), torch.randn(3, 5)),
    "conv": (torch.nn.Conv2d(2, 3, 3, padding=1), torch.randn(2, 2, 5, 5)),
    "transpose": (torch.nn.ConvTranspose2d(3, 2, 4, stride=2, padding=1), torch.randn(2, 3, 3, 3)),
}
for tag, (layer, inputs) in layers.items():
    tensors[f"sn_{tag}.weight"] = layer.weight.detach().clone()
    tensors[f"sn_{tag}.bias"] = layer.bias.detach().clone()
    tensors[f"sn_{tag}.input"] = inputs
    layer = torch.nn.utils.spectral_norm(layer)
    tensors[f"sn_{tag}.u0"] = layer.weight_u.detach().clone()
    tensors[f"sn_{tag}.v0"] = layer.weight_v.detach().clone()
    layer.train()
    for step in range(3):
        layer.zero_grad()
        output = layer(inputs)
        tensors[f"sn_{tag}.output{step}"] = output.detach().clone()
    (output ** 2).sum().backward()
    tensors[f"sn_{tag}.grad_weight"] = layer.weight_orig.grad.detach().clone()
    tensors[f"sn_{tag}.grad_bias"] = layer.bias.grad.detach().clone()
    tensors[f"sn_{tag}.u"] = layer.weight_u.detach().clone()
    tensors[f"sn_{tag}.v"] = layer.weight_v.detach().clone()
    layer.eval()
    tensors[f"sn_{tag}.eval_output"] = layer(inputs).detach().clone()


block = SelfAttention(16)
with torch.no_grad():
    block.gamma.fill_(0.7)
for name, parameter in block.named_parameters():
    tensors[f"attention.state.{name}"] = parameter.detach().clone()
inputs = torch.randn(2, 16, 4, 5, requires_grad=True)
output, attention = block(inputs)
(output ** 2).sum().backward()
tensors["attention.input"] = inputs.detach().clone()
tensors["attention.output"] = output.detach().clone()
tensors["attention.weights"] = attention.detach().clone()
tensors["attention.grad_input"] = inputs.grad.detach().clone()
for name, parameter in block.named_parameters():
    tensors[f"attention.grad.{name}"] = parameter.grad.detach().clone()

path = os.path.join(os.path.dirname(__file__), "../../Tests/Fixtures/gan_layers.safetensors")
save_file({name: value.contiguous() for name, value in tensors.items()}, path)
print(len(tensors), "tensors")
