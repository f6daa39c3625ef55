#!/usr/bin/env python3
"""Generates the PyTorch golden fixtures the Swift tests compare against (Tests/Fixtures/*.safetensors).

Run from the repository root with a venv that has torch and safetensors:
    python scripts/golden/make_golden.py
Every tensor is float64 (or int64) so the Swift tests can use tight tolerances.
"""
import os
import sys
import zlib

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
from torch_models import CNN  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures")
torch.set_default_dtype(torch.float64)


def save(name, tensors):
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, os.path.join(OUT, name))


def optimizers():
    """Five steps of each optimizer on a linear least-squares problem."""
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, 4, generator=g), torch.randn(8, 3, generator=g)
    w0, b0 = torch.randn(3, 4, generator=g), torch.randn(3, generator=g)
    out = {"x": x, "y": y, "weight0": w0, "bias0": b0}
    configs = {
        "sgd": lambda p: torch.optim.SGD(p, lr=0.1),
        "sgd_momentum": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01),
        "sgd_nesterov": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
        "adam": lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.1),
        "adam_amsgrad": lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), amsgrad=True),
        "adamw": lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1),
        "rmsprop": lambda p: torch.optim.RMSprop(p, lr=0.01, weight_decay=0.01),
        "rmsprop_centered_momentum": lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.9, centered=True),
    }
    for name, make in configs.items():
        w, b = w0.clone().requires_grad_(), b0.clone().requires_grad_()
        opt = make([w, b])
        for step in range(1, 6):
            opt.zero_grad()
            F.mse_loss(x @ w.T + b, y).backward()
            opt.step()
            out[f"{name}.weight{step}"] = w.detach().clone()
            out[f"{name}.bias{step}"] = b.detach().clone()
    # Gradient clipping by global norm.
    w, b = w0.clone().requires_grad_(), b0.clone().requires_grad_()
    (F.mse_loss(x @ w.T + b, y) * 50).backward()
    norm = torch.nn.utils.clip_grad_norm_([w, b], max_norm=1.0)
    out["clip.norm"], out["clip.weight_grad"], out["clip.bias_grad"] = norm.reshape(1), w.grad, b.grad
    save("optimizers.safetensors", out)


def schedules():
    """Learning rates over 12 epochs."""
    def run(make, epochs=12):
        p = torch.zeros(1, requires_grad=True)
        opt = torch.optim.SGD([p], lr=0.1)
        sched = make(opt)
        rates = []
        for _ in range(epochs):
            rates.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return torch.tensor(rates)
    save("schedules.safetensors", {
        "cosine": run(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.001)),
        "step": run(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5)),
        "exponential": run(lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)),
        "warmup_cosine": run(lambda o: torch.optim.lr_scheduler.SequentialLR(o, [
            torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1, end_factor=1.0, total_iters=3),
            torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=7, eta_min=0.0)], milestones=[3])),
    })


def layer_case(out, name, module, inputs, extra_params=()):
    """Forward output, input gradients and parameter gradients for a fixed upstream gradient."""
    inputs = [t.clone().requires_grad_(t.dtype.is_floating_point) for t in inputs]
    result = module(*inputs)
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    upstream = torch.randn(result.shape, generator=g)
    (result * upstream).sum().backward()
    out[f"{name}.upstream"] = upstream
    out[f"{name}.output"] = result
    for i, t in enumerate(inputs):
        out[f"{name}.input{i}"] = t.detach()
        if t.grad is not None:
            out[f"{name}.input{i}.grad"] = t.grad
    if isinstance(module, nn.Module):
        for pname, p in module.state_dict(keep_vars=True).items():
            out[f"{name}.param.{pname}"] = p.detach().clone() if p.dtype != torch.long else p.detach()
            if isinstance(p, torch.nn.Parameter) and p.grad is not None:
                out[f"{name}.grad.{pname}"] = p.grad


def layers():
    torch.manual_seed(1)
    out = {}
    r = torch.randn
    layer_case(out, "linear", nn.Linear(5, 3), [r(4, 5)])
    layer_case(out, "conv2d", nn.Conv2d(2, 3, 3, stride=2, padding=1), [r(2, 2, 7, 6)])
    layer_case(out, "conv2d_dilated", nn.Conv2d(3, 2, (2, 3), padding=(1, 0), dilation=(2, 1)), [r(1, 3, 6, 7)])
    layer_case(out, "conv_transpose2d", nn.ConvTranspose2d(3, 2, 4, stride=2, padding=1), [r(2, 3, 4, 5)])
    layer_case(out, "conv_transpose2d_output_padding",
               nn.ConvTranspose2d(2, 2, 3, stride=2, padding=1, output_padding=1), [r(1, 2, 3, 3)])
    layer_case(out, "max_pool2d", nn.MaxPool2d(2), [r(2, 3, 6, 6)])
    layer_case(out, "max_pool2d_padded", nn.MaxPool2d(3, stride=2, padding=1), [r(1, 2, 7, 7)])
    layer_case(out, "avg_pool2d", nn.AvgPool2d(3, stride=2, padding=1), [r(1, 2, 7, 6)])
    layer_case(out, "avg_pool2d_exclude_pad", nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), [r(1, 2, 7, 6)])
    layer_case(out, "adaptive_avg_pool2d", nn.AdaptiveAvgPool2d((3, 4)), [r(2, 2, 7, 9)])
    layer_case(out, "upsample_nearest", nn.Upsample(size=(5, 7), mode="nearest"), [r(1, 2, 3, 4)])
    layer_case(out, "upsample_bilinear", nn.Upsample(size=(5, 7), mode="bilinear", align_corners=False), [r(1, 2, 3, 4)])
    bn = nn.BatchNorm2d(3)
    layer_case(out, "batch_norm2d_train", bn, [r(4, 3, 2, 3) * 2 + 1])
    bn1 = nn.BatchNorm1d(4)
    bn1.running_mean.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))
    bn1.running_var.copy_(torch.tensor([1.5, 0.5, 2.0, 1.0]))
    bn1.eval()
    layer_case(out, "batch_norm1d_eval", bn1, [r(5, 4)])
    layer_case(out, "layer_norm", nn.LayerNorm([4]), [r(3, 4) * 3])
    layer_case(out, "gelu", nn.GELU(), [r(10)])
    layer_case(out, "gelu_tanh", nn.GELU(approximate="tanh"), [r(10)])
    layer_case(out, "leaky_relu", nn.LeakyReLU(0.2), [r(10)])
    layer_case(out, "softplus", nn.Softplus(), [r(10) * 5])
    layer_case(out, "embedding", nn.Embedding(6, 3), [torch.tensor([[1, 5], [0, 1]])])
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    layer_case(out, "multihead_attention", lambda q, k, v: mha(q, k, v, need_weights=False)[0],
               [r(2, 3, 8), r(2, 4, 8), r(2, 4, 8)])
    for pname, p in mha.state_dict(keep_vars=True).items():
        out[f"multihead_attention.param.{pname}"] = p.detach().clone()
        if p.grad is not None:
            out[f"multihead_attention.grad.{pname}"] = p.grad
    # Added after the others so their random inputs stay as they were.
    layer_case(out, "silu", nn.SiLU(), [r(10) * 5])
    save("layers.safetensors", out)


def losses():
    torch.manual_seed(2)
    logits = torch.randn(6, 4)
    target = torch.tensor([0, 3, 1, 1, 2, 3])
    weight = torch.tensor([0.5, 2.0, 1.0, 1.5])
    out = {"logits": logits, "target": target, "weight": weight}
    def record(name, fn, *tensors):
        leaves = [t.clone().requires_grad_() for t in tensors]
        value = fn(*leaves)
        value.backward()
        out[f"{name}.value"] = value.detach().reshape(1)
        out[f"{name}.grad"] = leaves[0].grad
    record("cross_entropy", lambda z: F.cross_entropy(z, target), logits)
    record("cross_entropy_weighted", lambda z: F.cross_entropy(z, target, weight=weight), logits)
    record("cross_entropy_smoothing", lambda z: F.cross_entropy(z, target, label_smoothing=0.1), logits)
    record("cross_entropy_all", lambda z: F.cross_entropy(z, target, weight=weight, label_smoothing=0.2,
                                                          ignore_index=1), logits)
    record("cross_entropy_sum", lambda z: F.cross_entropy(z, target, reduction="sum"), logits)
    record("nll", lambda z: F.nll_loss(F.log_softmax(z, 1), target, weight=weight), logits)
    p = torch.randn(6, 4)
    y = (torch.rand(6, 4) > 0.5).double()
    out["bce_logits_input"], out["bce_target"] = p, y
    pos = torch.tensor([1.0, 2.0, 0.5, 3.0])
    out["bce_pos_weight"] = pos
    record("bce_with_logits", lambda z: F.binary_cross_entropy_with_logits(z, y), p)
    record("bce_with_logits_pos_weight", lambda z: F.binary_cross_entropy_with_logits(z, y, pos_weight=pos), p)
    t = torch.randn(6, 4)
    out["regression_target"] = t
    record("mse", lambda z: F.mse_loss(z, t), p)
    record("l1", lambda z: F.l1_loss(z, t), p)
    q = torch.softmax(torch.randn(6, 4), 1)
    q[0, 1] = 0.0
    out["kl_target"] = q
    record("kl_div_batchmean", lambda z: F.kl_div(F.log_softmax(z, 1), q, reduction="batchmean"), logits)
    save("losses.safetensors", out)


def cnn_state():
    """A small PyTorch CNN (Lucerna's `cnn` with channels (4, 8) and hidden 16, same module names), its
    state dict, an input and its logits."""
    torch.manual_seed(3)
    torch.set_default_dtype(torch.float32)

    model = CNN(channels=(4, 8), hidden=16)
    x = torch.rand(3, 1, 28, 28)
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors["input"], tensors["logits"] = x, model(x)
    save("cnn_state.safetensors", tensors)
    # A plain file with each supported dtype, written by the Python library, for the reader test.
    save_file({"f32": torch.arange(6, dtype=torch.float32).reshape(2, 3) / 4,
               "f64": torch.tensor([[1.5, -2.25]], dtype=torch.float64),
               "i64": torch.tensor([7, -3, 2**40], dtype=torch.int64),
               "scalar": torch.tensor(3.5, dtype=torch.float32)},
              os.path.join(OUT, "python_written.safetensors"), metadata={"format": "pt", "source": "lucerna-golden"})
    torch.set_default_dtype(torch.float64)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    optimizers()
    schedules()
    layers()
    losses()
    cnn_state()
    print("wrote", sorted(os.listdir(OUT)))
