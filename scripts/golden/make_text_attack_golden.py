#!/usr/bin/env python3
"""Golden text attacks (Tests/Fixtures/text_attacks.safetensors): an independent PyTorch implementation of
embedding-space PGD (Miyato et al. 2017 / FreeLB's projected steps, per-token L2 or L-inf balls, padding
untouched, nearest-token projection) and of TextFooler's greedy search (deletion importance, best candidate
among the cosine-nearest embedding neighbours, token budget), on a float64 bag-of-embeddings classifier:
0 EmbeddingBag-style mean over non-padding tokens of Embedding(40, 6), 1 Linear(6, 3). No attack library
ships these two for arbitrary PyTorch classifiers (TextAttack wraps HuggingFace models and counter-fitted
embeddings), so this file states the definitions in PyTorch and the Swift tests must agree with them.

    python scripts/golden/make_text_attack_golden.py     # venv with torch and safetensors
"""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "text_attacks.safetensors")
torch.manual_seed(23)
torch.set_default_dtype(torch.float64)
PAD, UNK, V, D = 0, 1, 40, 6
embedding = nn.Embedding(V, D)
head = nn.Linear(D, 3)


def model(tokens, delta=None):
    e = embedding(tokens)
    if delta is not None:
        e = e + delta
    mask = (tokens != PAD).to(e.dtype).unsqueeze(-1)
    pooled = (e * mask).sum(1) / mask.sum(1).clamp(min=1)
    return head(pooled)


tokens = torch.randint(2, V, (6, 7))
for row, length in enumerate([7, 5, 6, 3, 7, 4]):
    tokens[row, length:] = PAD
with torch.no_grad():
    labels = model(tokens).argmax(1)


def embedding_pgd(eps, alpha, steps, norm):
    mask = (tokens != PAD).to(torch.float64).unsqueeze(-1)
    delta = torch.zeros(tokens.shape + (D,))
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = F.cross_entropy(model(tokens, delta), labels)
        (g,) = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            if norm == "linf":
                delta = (delta + alpha * g.sign()).clamp(-eps, eps) * mask
            else:
                delta = delta + alpha * g / (g.norm(dim=-1, keepdim=True) + 1e-12)
                lengths = delta.norm(dim=-1, keepdim=True)
                delta = delta * eps / (lengths.clamp(min=eps) + 1e-12) * mask
    delta = delta.detach()
    moved = embedding.weight[tokens] + delta
    distances = (moved.unsqueeze(-2) - embedding.weight).pow(2).sum(-1)
    distances[..., PAD] = float("inf")
    nearest = distances.argmin(-1)
    nearest[tokens == PAD] = PAD
    with torch.no_grad():
        return delta, model(tokens, delta), nearest


def word_substitution(budget, count):
    w = embedding.weight.detach()
    cosine = (w @ w.T) / (w.norm(dim=1, keepdim=True) * w.norm(dim=1)).clamp(min=1e-12)
    cosine.fill_diagonal_(-float("inf"))
    cosine[:, [PAD, UNK]] = -float("inf")
    neighbours = cosine.argsort(dim=1, descending=True, stable=True)[:, :count]
    result = tokens.clone()
    with torch.no_grad():
        for n in range(tokens.shape[0]):
            y = labels[n].item()
            current = tokens[n].clone()
            p = F.softmax(model(current[None]), 1)[0]
            if p.argmax().item() != y:
                continue
            score = p[y].item()
            drops = []
            for t in range(tokens.shape[1]):
                if current[t] == PAD:
                    continue
                deleted = current.clone()
                deleted[t] = PAD
                drops.append((-(score - F.softmax(model(deleted[None]), 1)[0, y].item()), t))
            order = [t for _, t in sorted(drops)]
            substituted = 0
            for t in order:
                if substituted >= budget:
                    break
                best, best_score, best_p = None, None, None
                for c in neighbours[current[t]].tolist():
                    changed = current.clone()
                    changed[t] = c
                    q = F.softmax(model(changed[None]), 1)[0]
                    if best_score is None or q[y].item() < best_score:
                        best, best_score, best_p = changed, q[y].item(), q
                if best is not None and best_score < score:
                    current, score = best, best_score
                    substituted += 1
                    if best_p.argmax().item() != y:
                        break
            result[n] = current
    return result


out = {"model.0.embedding.weight": embedding.weight.detach().clone(), "model.1.weight": head.weight.detach().clone(),
       "model.1.bias": head.bias.detach().clone(), "tokens": tokens, "labels": labels}
for name, (eps, alpha, steps, norm) in {"l2": (1.5, 0.5, 5, "l2"), "linf": (0.4, 0.15, 4, "linf")}.items():
    delta, logits, nearest = embedding_pgd(eps, alpha, steps, norm)
    out[f"embedding_pgd.{name}.delta"] = delta
    out[f"embedding_pgd.{name}.logits"] = logits
    out[f"embedding_pgd.{name}.tokens"] = nearest
out["word_substitution"] = word_substitution(budget=2, count=4)
save_file({k: v.contiguous() for k, v in out.items()}, OUT)
print("wrote", OUT, "changed tokens:", (out["word_substitution"] != tokens).sum().item(),
      "fooled:", (model(out["word_substitution"]).argmax(1) != labels).sum().item())
