#!/usr/bin/env python3
"""Golden adversarial examples (Tests/Fixtures/attacks.safetensors) from torchattacks 3.5 on a small float64 CNN:
0 Conv2d(1, 4, 3, padding=1), 1 ReLU, 2 MaxPool2d(2), 3 Flatten, 4 Linear(64, 16), 5 ReLU, 6 Linear(16, 5), eight
1x8x8 inputs in [0, 1]. Deterministic attacks only (random starts off): FGSM (untargeted and targeted), BIM,
PGD L-inf and L2, MI-FGSM, DeepFool, C&W L2 (one c, as torchattacks has no binary search).

    python scripts/golden/make_attack_golden.py     # venv with torch, safetensors, torchattacks
"""
import os

import torch
import torch.nn as nn
import torchattacks
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "attacks.safetensors")
torch.manual_seed(17)
torch.set_default_dtype(torch.float64)
model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                      nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 5))
with torch.no_grad():
    # Logits positive for these inputs, where torchattacks' C&W margin (max over (1 - onehot) * logits, which
    # counts the true class as 0) equals the paper's max over the other classes; the shift changes neither
    # the cross-entropy gradients nor DeepFool's logit differences.
    model[6].bias += 20.0
model.eval()
images = torch.rand(8, 1, 8, 8)
labels = model(images).argmax(1)   # the model's own predictions, so every attack has something to flip
targets = (labels + 1) % 5
out = {f"model.{k}": v.detach().clone().contiguous() for k, v in model.state_dict().items()}
out.update({"images": images, "labels": labels, "targets": targets})

out["fgsm"] = torchattacks.FGSM(model, eps=0.1)(images, labels)
targeted = torchattacks.FGSM(model, eps=0.1)
targeted.set_mode_targeted_by_label(quiet=True)
out["fgsm.targeted"] = targeted(images, targets)
out["bim"] = torchattacks.BIM(model, eps=0.1, alpha=0.02, steps=5)(images, labels)
out["pgd"] = torchattacks.PGD(model, eps=0.1, alpha=0.02, steps=7, random_start=False)(images, labels)
out["pgd_l2"] = torchattacks.PGDL2(model, eps=1.0, alpha=0.2, steps=5, random_start=False)(images, labels)
out["mifgsm"] = torchattacks.MIFGSM(model, eps=0.1, alpha=0.02, steps=5, decay=1.0)(images, labels)
assert bool((model(images) > 0).all()), "logits must be positive for the C&W comparison"
out["deepfool"] = torchattacks.DeepFool(model, steps=50, overshoot=0.02)(images, labels)
out["cw"] = torchattacks.CW(model, c=5.0, kappa=0.0, steps=100, lr=0.01)(images, labels)
for name, value in out.items():
    print(f"{name:16s} {tuple(value.shape)}")
save_file({k: v.detach().contiguous() for k, v in out.items()}, OUT)
