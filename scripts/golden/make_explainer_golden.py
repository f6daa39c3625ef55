#!/usr/bin/env python3
"""Golden maps for the explainers (Tests/Fixtures/explainers.safetensors): the CAM family from pytorch-grad-cam,
saliency, Integrated Gradients and occlusion from Captum, on
a small copy of Lucerna's benchmark CNN (same module names: conv1, relu1, pool1, conv2, relu2, pool2, fc1,
relu3, fc2) with fixed random weights, on six random 1x16x16 inputs, target layer relu2.

    python scripts/golden/make_explainer_golden.py     # venv with torch, safetensors, grad-cam, captum
"""
import os

import numpy as np
import torch
import torch.nn as nn
from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, LayerCAM, ScoreCAM, XGradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "explainers.safetensors")
torch.manual_seed(3)


class CNN(nn.Module):
    """Lucerna's CNN(inputChannels: 1, imageSize: 16, channels: (4, 8), hidden: 16, classes: 5)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(4, 8, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(8 * 4 * 4, 16)
        self.relu3 = nn.ReLU()
        self.fc2 = nn.Linear(16, 5)

    def forward(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc2(self.relu3(self.fc1(x.flatten(1))))


model = CNN().double().eval()
with torch.no_grad():
    for parameter in model.parameters():
        parameter.mul_(2.0)   # larger weights: more varied activations than the default initialisation
inputs = torch.rand(6, 1, 16, 16, dtype=torch.float64)
targets = torch.tensor([0, 1, 2, 3, 4, 1])
out = {f"model.{name}": value.detach().clone() for name, value in model.state_dict().items()}
out["inputs"] = inputs
out["targets"] = targets

methods = {"grad_cam": GradCAM, "grad_cam_pp": GradCAMPlusPlus, "xgrad_cam": XGradCAM, "layer_cam": LayerCAM,
           "score_cam": ScoreCAM, "eigen_cam": EigenCAM}
for name, method in methods.items():
    with method(model=model, target_layers=[model.relu2]) as cam:
        maps = cam(input_tensor=inputs, targets=[ClassifierOutputTarget(int(t)) for t in targets])
        out[f"{name}.maps"] = torch.from_numpy(np.asarray(maps, dtype=np.float64))
    if name == "eigen_cam":
        # EigenCAM's sign comes from LAPACK's SVD and is arbitrary: store the projection itself as well.
        from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection
        activations = []
        handle = model.relu2.register_forward_hook(lambda module, args, output: activations.append(output.detach()))
        model(inputs)
        handle.remove()
        out["eigen_cam.projection"] = torch.from_numpy(np.asarray(get_2d_projection(activations[0].numpy()), dtype=np.float64))
# Predicted-class targets (targets=None) for Grad-CAM.
with GradCAM(model=model, target_layers=[model.relu2]) as cam:
    out["grad_cam.predicted_maps"] = torch.from_numpy(np.asarray(cam(input_tensor=inputs, targets=None), dtype=np.float64))

# Captum's gradient and perturbation methods on the same model and inputs.
from captum.attr import IntegratedGradients, Occlusion, Saliency

out["saliency.maps"] = Saliency(model).attribute(inputs, target=targets, abs=True).detach()
out["integrated_gradients.gausslegendre50"] = IntegratedGradients(model).attribute(
    inputs, target=targets, n_steps=50, method="gausslegendre").detach()
out["integrated_gradients.trapezoid20"] = IntegratedGradients(model).attribute(
    inputs, baselines=0.25, target=targets, n_steps=20, method="riemann_trapezoid").detach()
out["occlusion.maps"] = Occlusion(model).attribute(inputs, sliding_window_shapes=(1, 4, 4), strides=(1, 2, 2),
                                                   baselines=0, target=targets).detach()

save_file({key: value.contiguous() for key, value in out.items()}, OUT)
print(f"wrote {OUT}: {len(out)} tensors")
