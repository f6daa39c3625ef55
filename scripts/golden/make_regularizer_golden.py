#!/usr/bin/env python3
"""Golden values for the bias regularizers (issue 23), from PyTorch autograd in float64.

    python scripts/golden/make_regularizer_golden.py   # writes Tests/Fixtures/regularizers.safetensors

- rrr: Ross et al.'s right-reasons term on an MLP (sum_k log p_k, squared masked input gradient, mean over
  the batch) and Reveal-to-Revise's cosine form on a small CNN (cross-entropy gradient summed over channels,
  abs, cosine with the mask), each with its gradient by every parameter (double backpropagation); and
  Liu & Avci's attribution form on a token model (gradient x embedding output, summed over the embedding
  width, squared on identity tokens).
- grad_cam_penalty, grad_cam_pp_penalty: the share of a Grad-CAM / Grad-CAM++ map (pytorch-grad-cam's
  channel weights, computed with autograd and kept in the graph) inside a mask, and its parameter gradients.
- rr_clarc: the RRClarc loss of frederikpahde/rrclarc (gradient at a layer projected on a concept vector;
  all/max/target logit objectives; l2, l1 and cosine, with and without the mean over positions).
- irm: IRMv1's penalty as facebookresearch/InvariantRiskMinimization computes it (BCE on one logit, the
  squared gradient by a dummy scale of 1.0, mean over environments) and the same with cross-entropy on
  three logits, with gradients by the logits.
"""
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

torch.manual_seed(23)
torch.set_default_dtype(torch.float64)
out = {}

# --- rrr, Ross et al. (l2 form) on an MLP 4 -> 5 (tanh) -> 3 ---
mlp = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
x = torch.randn(6, 4)
mask = (torch.rand(6, 4) < 0.5).double()
xg = x.clone().requires_grad_(True)
log_probabilities = F.log_softmax(mlp(xg), dim=1)
(gradient,) = torch.autograd.grad(log_probabilities.sum(), xg, create_graph=True)
per_sample = ((mask * gradient) ** 2).sum(dim=1)
penalty = 1000.0 * per_sample.mean()
grads = torch.autograd.grad(penalty, list(mlp.parameters()))
out["rrr_l2.inputs"] = x
out["rrr_l2.mask"] = mask
out["rrr_l2.penalty"] = penalty.detach().reshape(1)
for (name, parameter), g in zip(mlp.named_parameters(), grads):
    out[f"rrr_l2.model.{name}"] = parameter.detach().clone()
    out[f"rrr_l2.grad.{name}"] = g

# --- rrr, Reveal-to-Revise cosine form on a CNN [5, 2, 4, 4] -> conv 3x3 (3) -> tanh -> linear 3 ---
cnn = torch.nn.Sequential(
    torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(48, 3))
images = torch.randn(5, 2, 4, 4)
image_mask = torch.zeros(5, 4, 4)
image_mask[:, :2, :2] = 1.0
image_mask[4] = 0.0  # a sample without an artifact: its cosine is 0
labels = torch.tensor([0, 2, 1, 1, 0])
xg = images.clone().requires_grad_(True)
logits = cnn(xg)
(gradient,) = torch.autograd.grad(F.cross_entropy(logits, labels), xg, create_graph=True)
cosine = F.cosine_similarity(gradient.sum(1).abs().flatten(1), image_mask.flatten(1), dim=1, eps=1e-8)
penalty = 100.0 * cosine.mean()
grads = torch.autograd.grad(penalty, list(cnn.parameters()))
out["rrr_cosine.inputs"] = images
out["rrr_cosine.mask"] = image_mask
out["rrr_cosine.labels"] = labels
out["rrr_cosine.penalty"] = penalty.detach().reshape(1)
for (name, parameter), g in zip(cnn.named_parameters(), grads):
    out[f"rrr_cosine.model.{name}"] = parameter.detach().clone()
    out[f"rrr_cosine.grad.{name}"] = g

# --- irm: the reference's penalty ---
def irm_penalty(logits, y, binary):
    scale = torch.tensor(1.0).requires_grad_()
    if binary:
        loss = F.binary_cross_entropy_with_logits(logits * scale, y)
    else:
        loss = F.cross_entropy(logits * scale, y)
    (grad,) = torch.autograd.grad(loss, [scale], create_graph=True)
    return torch.sum(grad ** 2)


environments = torch.tensor([0, 1, 0, 1, 1, 0, 2, 2])
for tag, binary in [("irm_binary", True), ("irm_multiclass", False)]:
    logits = torch.randn(8) if binary else torch.randn(8, 3)
    targets = (torch.rand(8) < 0.5).double() if binary else torch.randint(0, 3, (8,))
    leaf = logits.clone().requires_grad_(True)
    terms = [irm_penalty(leaf[environments == e], targets[environments == e], binary) for e in range(3)]
    penalty = torch.stack(terms).mean()
    (grad,) = torch.autograd.grad(penalty, leaf)
    out[f"{tag}.logits"] = logits
    out[f"{tag}.targets"] = targets
    out[f"{tag}.penalty"] = penalty.detach().reshape(1)
    out[f"{tag}.grad"] = grad
out["irm.environments"] = environments

# --- CAM penalties: Grad-CAM and Grad-CAM++ maps (pytorch-grad-cam's weights) kept in the graph ---
camnet = torch.nn.Sequential(
    torch.nn.Conv2d(1, 3, 3, padding=1), torch.nn.Tanh(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
    torch.nn.Linear(3 * 4 * 4, 3))
cam_images = torch.randn(4, 1, 8, 8)
cam_mask = torch.zeros(4, 8, 8)
cam_mask[:, 5:, 5:] = 1.0
cam_labels = torch.tensor([2, 0, 1, 2])
captured = {}
camnet[1].register_forward_hook(lambda module, inputs, output: captured.__setitem__("a", output))
for tag in ["grad_cam", "grad_cam_pp"]:
    logits = camnet(cam_images)
    a = captured["a"]
    score = logits.gather(1, cam_labels[:, None]).sum()
    (g,) = torch.autograd.grad(score, a, create_graph=True)
    if tag == "grad_cam":
        weights = g.mean(dim=(2, 3), keepdim=True)
    else:
        g2 = g ** 2
        alpha = g2 / (2 * g2 + a.sum(dim=(2, 3), keepdim=True) * g2 * g + 1e-6)
        alpha = torch.where(g != 0, alpha, torch.zeros_like(alpha))
        weights = (torch.relu(g) * alpha).sum(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * a).sum(dim=1, keepdim=True))  # [N, 1, 8, 8]: the layer is input-sized
    share = (cam * cam_mask[:, None]).sum(dim=(1, 2, 3)) / (cam.sum(dim=(1, 2, 3)) + 1e-8)
    penalty = 2.0 * share.mean()
    grads = torch.autograd.grad(penalty, list(camnet.parameters()), allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(camnet.parameters(), grads)]
    out[f"{tag}_penalty.penalty"] = penalty.detach().reshape(1)
    out[f"{tag}_penalty.maps"] = cam.detach()
    for (name, parameter), gradient in zip(camnet.named_parameters(), grads):
        out[f"{tag}_penalty.grad.{name}"] = gradient
for name, parameter in camnet.named_parameters():
    out[f"cam.model.{name}"] = parameter.detach().clone()
out["cam.images"] = cam_images
out["cam.mask"] = cam_mask
out["cam.labels"] = cam_labels

# --- rr_clarc: the reference's RRClarc loss on camnet's layer 1 (tanh output [4, 3, 8, 8]) ---
concept = torch.randn(3)
full_concept = torch.randn(3 * 8 * 8)
out["rr_clarc.concept"] = concept
out["rr_clarc.full_concept"] = full_concept
for tag, target, aggregation, vector in [
    ("all_l2_mean", "all_logits", "l2_mean", concept), ("max_l2", "max_logit", "l2", concept),
    ("target_l1_mean", "target_logit", "l1_mean", concept), ("all_cosine", "all_logits", "cosine", concept),
    ("all_full_l2", "all_logits", "l2", full_concept),
]:
    logits = camnet(cam_images)
    a = captured["a"]
    if target == "all_logits":
        f = logits.sum(1)
    elif target == "max_logit":
        f = logits.max(1)[0]
    else:
        f = logits[range(4), cam_labels]
    (g,) = torch.autograd.grad(f, a, torch.ones_like(f), create_graph=True)
    if aggregation.endswith("_mean"):
        g = g.mean((2, 3), keepdim=True).expand_as(g)
    rows = g.flatten(1) if vector.numel() != 3 else g.permute(1, 0, 2, 3).flatten(1).permute(1, 0)
    if aggregation.startswith("l2"):
        value = ((rows * vector).sum(1) ** 2).mean(0)
    elif aggregation.startswith("l1"):
        value = (rows * vector).sum(1).abs().mean(0)
    else:
        value = F.cosine_similarity(rows, vector[None], dim=1).abs().mean(0)
    penalty = 3.0 * value
    grads = torch.autograd.grad(penalty, list(camnet.parameters()), allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(camnet.parameters(), grads)]
    out[f"rr_clarc.{tag}.penalty"] = penalty.detach().reshape(1)
    for (name, parameter), gradient in zip(camnet.named_parameters(), grads):
        out[f"rr_clarc.{tag}.grad.{name}"] = gradient

# --- rrr, gradient x input on a token model: embedding (7, 3) -> flatten -> linear 12 -> tanh -> linear 2 ---
tokens = torch.tensor([[2, 5, 3, 0], [4, 4, 6, 1], [1, 3, 0, 0], [6, 2, 5, 3]])
token_mask = torch.tensor([[0, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1]]).double()
embedding = torch.nn.Embedding(7, 3)
head = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
embedded = embedding(tokens)
log_probabilities = F.log_softmax(head(embedded), dim=1)
(gradient,) = torch.autograd.grad(log_probabilities.sum(), embedded, create_graph=True)
attribution = (gradient * embedded).sum(dim=2)
penalty = 50.0 * ((token_mask * attribution) ** 2).sum(dim=1).mean()
parameters = [("embedding.weight", embedding.weight)] + [
    (f"head.{name}", parameter) for name, parameter in head.named_parameters()]
grads = torch.autograd.grad(penalty, [parameter for _, parameter in parameters])
out["rrr_tokens.tokens"] = tokens
out["rrr_tokens.mask"] = token_mask
out["rrr_tokens.penalty"] = penalty.detach().reshape(1)
for (name, parameter), g in zip(parameters, grads):
    out[f"rrr_tokens.model.{name}"] = parameter.detach().clone()
    out[f"rrr_tokens.grad.{name}"] = g

path = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "regularizers.safetensors")
save_file({k: v.contiguous() for k, v in out.items()}, path)
print(f"wrote {len(out)} tensors to {os.path.normpath(path)}")
