#!/usr/bin/env python3
"""Golden values for the registered components (Tests/Fixtures/components.safetensors), from the libraries
that define them: scikit-learn (accuracy, top-k accuracy, balanced accuracy), torchattacks (FGSM), Captum
(InputXGradient) and PyTorch (fusions, regularizers, focal loss written from their papers' formulas).

    python scripts/golden/make_components_golden.py      # venv with torch, safetensors, scikit-learn,
                                                          # torchattacks, captum
"""
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file
from sklearn.metrics import accuracy_score, balanced_accuracy_score, top_k_accuracy_score

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "components.safetensors")
torch.set_default_dtype(torch.float64)
g = torch.Generator().manual_seed(7)
out = {}


def scalar(value):
    return torch.tensor([float(value)])


# Metrics: 40 samples, 5 classes, imbalanced targets; scores rounded to create some ties.
scores = torch.round(torch.randn(40, 5, generator=g) * 4) / 4
targets = torch.tensor(np.r_[np.zeros(16), np.ones(12), np.full(6, 2), np.full(4, 3), np.full(2, 4)].astype(np.int64))
targets = targets[torch.randperm(40, generator=g)]
predicted = scores.argmax(1).numpy()
out["metric.scores"], out["metric.targets"] = scores, targets
out["metric.accuracy_top1"] = scalar(accuracy_score(targets.numpy(), predicted))
out["metric.balanced_accuracy"] = scalar(balanced_accuracy_score(targets.numpy(), predicted))
# sklearn's top_k_accuracy_score breaks ties by class order like argsort(stable); our scores are
# perturbed by a tiny class-index term so k-best sets are unambiguous for the top-3 check.
untied = scores - torch.arange(5) * 1e-6
out["metric.untied_scores"] = untied
out["metric.accuracy_top3"] = scalar(top_k_accuracy_score(targets.numpy(), untied.numpy(), k=3, labels=range(5)))

# Regularizers on a [3, 4] weight and [3] bias.
w = torch.randn(3, 4, generator=g).requires_grad_()
b = torch.randn(3, generator=g).requires_grad_()
out["reg.weight"], out["reg.bias"] = w.detach().clone(), b.detach().clone()
for name, penalty in {
    "l2": lambda: 0.01 * (w ** 2).sum(),
    "l2_bias": lambda: 0.01 * ((w ** 2).sum() + (b ** 2).sum()),
    "l1": lambda: 0.01 * w.abs().sum(),
    "orthogonality": lambda: 0.01 * ((w @ w.T - torch.eye(3)) ** 2).sum(),
}.items():
    w.grad = b.grad = None
    value = penalty()
    value.backward()
    out[f"reg.{name}"] = value.detach().reshape(1)
    out[f"reg.{name}.weight_grad"] = w.grad.clone()
    out[f"reg.{name}.bias_grad"] = b.grad.clone() if b.grad is not None else torch.zeros(3)

# Fusions: two modalities [4, 3] and [4, 5].
x1, x2 = torch.randn(4, 3, generator=g), torch.randn(4, 5, generator=g)
out["fusion.x1"], out["fusion.x2"] = x1, x2
projection = nn.Linear(8, 6)
for name, p in projection.named_parameters():
    out[f"fusion.concat.projection.{name}"] = p.detach().clone()
out["fusion.concat"] = projection(torch.cat([x1, x2], 1))
p0, p1 = nn.Linear(3, 6), nn.Linear(5, 6)
for i, layer in enumerate([p0, p1]):
    for name, p in layer.named_parameters():
        out[f"fusion.sum.projections.{i}.{name}"] = p.detach().clone()
out["fusion.sum"] = p0(x1) + p1(x2)
# Gated multimodal unit (Arevalo et al. 2017) with softmax gates over modalities.
project1, project2, gate = nn.Linear(3, 6), nn.Linear(5, 6), nn.Linear(8, 12)
for prefix, layer in [("project1", project1), ("project2", project2), ("gate", gate)]:
    for name, p in layer.named_parameters():
        out[f"fusion.gated.{prefix}.{name}"] = p.detach().clone()
z = gate(torch.cat([x1, x2], 1)).reshape(4, 2, 6).softmax(1)
out["fusion.gated"] = torch.tanh(project1(x1)) * z[:, 0] + torch.tanh(project2(x2)) * z[:, 1]

# Focal loss (Lin et al. 2017), gamma 2, alpha 0.5.
logits, labels = torch.randn(6, 4, generator=g).requires_grad_(), torch.tensor([0, 3, 1, 1, 2, 0])
log_p = F.log_softmax(logits, 1).gather(1, labels[:, None]).squeeze(1)
focal = (-0.5 * (1 - log_p.exp()) ** 2 * log_p).mean()
focal.backward()
out["focal.logits"], out["focal.labels"] = logits.detach(), labels
out["focal.loss"], out["focal.grad"] = focal.detach().reshape(1), logits.grad

# Attacks and explainers on a linear classifier of [N, 1, 4, 4] inputs in [0, 1].
import torchattacks  # noqa: E402
from captum.attr import InputXGradient  # noqa: E402

model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
for name, p in model.named_parameters():
    out[f"classifier.{name}"] = p.detach().clone()
images = torch.rand(5, 1, 4, 4, generator=g)
image_labels = torch.tensor([0, 1, 2, 1, 0])
out["attack.images"], out["attack.labels"] = images, image_labels
out["attack.fgsm"] = torchattacks.FGSM(model, eps=0.1)(images, image_labels)
out["explainer.gradient_x_input"] = InputXGradient(model).attribute(images, target=image_labels)

# Lion (Chen et al. 2023, Algorithm 2; as lion-pytorch): five steps on a least-squares problem.
x, y = torch.randn(8, 4, generator=g), torch.randn(8, 3, generator=g)
w0 = torch.randn(3, 4, generator=g)
out["lion.x"], out["lion.y"], out["lion.weight0"] = x, y, w0
w, moment = w0.clone().requires_grad_(), torch.zeros(3, 4)
for step in range(1, 6):
    w.grad = None
    F.mse_loss(x @ w.T, y).backward()
    with torch.no_grad():
        update = (moment * 0.9 + w.grad * 0.1).sign()
        w.mul_(1 - 0.01 * 0.1).add_(update, alpha=-0.01)
        moment = moment * 0.99 + w.grad * 0.01
    out[f"lion.weight{step}"] = w.detach().clone()

# PolynomialLR(total_iters=4, power=2) from lr 0.1: the rate before each of 7 steps.
parameter = torch.zeros(1, requires_grad=True)
sgd = torch.optim.SGD([parameter], lr=0.1)
poly = torch.optim.lr_scheduler.PolynomialLR(sgd, total_iters=4, power=2.0)
rates = []
for _ in range(7):
    rates.append(sgd.param_groups[0]["lr"])
    sgd.step()
    poly.step()
out["polynomial.rates"] = torch.tensor(rates)

# Log-mel spectrogram of a chirp at 8 kHz: torch.stft (periodic Hann, centred, reflect padding), power 2,
# the HTK mel filter bank as torchaudio.functional.melscale_fbanks builds it (f_min 0, f_max 4000,
# norm None), log(x + 1e-6). n_fft 256, hop 128, 40 mels.
t = torch.arange(2000) / 8000.0
chirp = torch.sin(2 * torch.pi * (200 + 1500 * t) * t) * 0.5 + 0.1 * torch.sin(2 * torch.pi * 3100 * t)
spectrum = torch.stft(chirp, n_fft=256, hop_length=128, window=torch.hann_window(256, periodic=True), center=True,
                      pad_mode="reflect", return_complex=True).abs() ** 2
all_freqs = torch.linspace(0, 4000, 129)
m_pts = torch.linspace(0, 2595.0 * np.log10(1.0 + 4000 / 700.0), 42)
f_pts = 700.0 * (10 ** (m_pts / 2595.0) - 1.0)
f_diff = f_pts[1:] - f_pts[:-1]
slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
fb = torch.clamp(torch.min(-slopes[:, :-2] / f_diff[:-1], slopes[:, 2:] / f_diff[1:]), min=0)
out["mel.signal"] = chirp
out["mel.log_mel"] = torch.log(fb.T @ spectrum + 1e-6)

# Classification and subgroup metrics on fixed predictions: scikit-learn and Fairlearn.
from sklearn.metrics import (f1_score, precision_score, recall_score, roc_auc_score, confusion_matrix)  # noqa: E402
import fairlearn.metrics as fm  # noqa: E402

mc_logits = torch.randn(60, 4, generator=g) * 2
mc_targets = torch.randint(0, 4, (60,), generator=g)
mc_probabilities = mc_logits.softmax(1).numpy()
mc_predicted = mc_probabilities.argmax(1)
out["mc.logits"], out["mc.targets"] = mc_logits, mc_targets
for average in ["macro", "weighted", "micro"]:
    out[f"mc.f1_{average}"] = scalar(f1_score(mc_targets, mc_predicted, average=average, zero_division=0))
    out[f"mc.precision_{average}"] = scalar(precision_score(mc_targets, mc_predicted, average=average, zero_division=0))
    out[f"mc.recall_{average}"] = scalar(recall_score(mc_targets, mc_predicted, average=average, zero_division=0))
out["mc.roc_auc_ovr"] = scalar(roc_auc_score(mc_targets, mc_probabilities, multi_class="ovr", average="macro"))
out["mc.confusion"] = torch.tensor(confusion_matrix(mc_targets, mc_predicted), dtype=torch.float64)
# ECE (Guo et al. 2017) with 15 bins (k/B, (k+1)/B], computed directly.
confidence = mc_probabilities.max(1)
correct = (mc_predicted == mc_targets.numpy()).astype(float)
bins = np.clip(np.ceil(confidence * 15).astype(int) - 1, 0, 14)
out["mc.ece"] = scalar(sum(abs(correct[bins == b].sum() - confidence[bins == b].sum()) for b in range(15)) / 60)

b_logits = torch.randn(80, 2, generator=g) * 1.5
b_targets = torch.randint(0, 2, (80,), generator=g)
b_groups = torch.randint(0, 3, (80,), generator=g)
b_probabilities = b_logits.softmax(1).numpy()
b_predicted = b_probabilities.argmax(1)
out["bin.logits"], out["bin.targets"], out["bin.groups"] = b_logits, b_targets, b_groups
y, p, s = b_targets.numpy(), b_predicted, b_groups.numpy()
out["bin.f1"] = scalar(f1_score(y, p, average="binary"))
out["bin.roc_auc"] = scalar(roc_auc_score(y, b_probabilities[:, 1]))
out["bin.demographic_parity_difference"] = scalar(fm.demographic_parity_difference(y, p, sensitive_features=s))
out["bin.demographic_parity_ratio"] = scalar(fm.demographic_parity_ratio(y, p, sensitive_features=s))
out["bin.equalized_odds_difference"] = scalar(fm.equalized_odds_difference(y, p, sensitive_features=s))
out["bin.equal_opportunity_difference"] = scalar(fm.equal_opportunity_difference(y, p, sensitive_features=s))
frame = fm.MetricFrame(metrics={"accuracy": lambda a, b: (a == b).mean(), "selection_rate": fm.selection_rate,
                                "tpr": fm.true_positive_rate, "fpr": fm.false_positive_rate},
                       y_true=y, y_pred=p, sensitive_features=s)
out["bin.worst_group_accuracy"] = scalar(frame.by_group["accuracy"].min())
out["bin.group_selection_rates"] = torch.tensor(frame.by_group["selection_rate"].values)
out["bin.group_tpr"] = torch.tensor(frame.by_group["tpr"].values)
# Borkan et al. (2019) with groups -1 (no identity), 0, 1: per-group AUCs and the Jigsaw summary.
t_groups = torch.randint(-1, 2, (80,), generator=g)
out["bin.identity_groups"] = t_groups
scores, truth, ident = b_probabilities[:, 1], y.astype(bool), t_groups.numpy()
def power_mean(values, power=-5.0):
    values = np.array(values)
    return np.power(np.mean(np.power(values, power)), 1 / power)
sub, bpsn, bnsp = [], [], []
for group in [0, 1]:
    inside, outside = ident == group, ident != group
    sub.append(roc_auc_score(truth[inside], scores[inside]))
    mask = (outside & truth) | (inside & ~truth)
    bpsn.append(roc_auc_score(truth[mask], scores[mask]))
    mask = (outside & ~truth) | (inside & truth)
    bnsp.append(roc_auc_score(truth[mask], scores[mask]))
out["bin.subgroup_aucs"] = torch.tensor(sub)
out["bin.bpsn_aucs"] = torch.tensor(bpsn)
out["bin.bnsp_aucs"] = torch.tensor(bnsp)
out["bin.bias_auc"] = scalar(0.25 * roc_auc_score(truth, scores) + 0.75 * (power_mean(sub) + power_mean(bpsn) + power_mean(bnsp)) / 3)

save_file({k: v.detach().contiguous() for k, v in out.items()}, OUT)
print(f"wrote {len(out)} tensors to {OUT}")
