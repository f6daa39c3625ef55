#!/usr/bin/env python3
"""Checks that a state dict written by Lucerna loads with Python's safetensors and PyTorch.

    lucerna train-demo --epochs 1 --checkpoint /tmp/cnn.safetensors
    python scripts/golden/check_safetensors_interop.py /tmp/cnn.safetensors

Loads the file with `safetensors.torch.load_file`, then `load_state_dict(strict=True)` into the PyTorch
equivalent of Lucerna's `cnn`, and prints its Fashion-MNIST test accuracy, which should equal the
`test_acc` Lucerna printed for the same weights.
"""
import gzip
import sys

import os

import numpy as np
import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
from torch_models import CNN  # noqa: E402


def idx(path, offset):
    with gzip.open(path) as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def main():
    state = load_file(sys.argv[1])
    model = CNN()
    model.load_state_dict(state, strict=True)
    model.eval()
    folder = sys.argv[2] if len(sys.argv) > 2 else "/usr/share/datasets/fashion-mnist"
    images = torch.tensor(idx(f"{folder}/t10k-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28) / 255.0,
                          dtype=torch.float32)
    labels = torch.tensor(idx(f"{folder}/t10k-labels-idx1-ubyte.gz", 8).astype(np.int64))
    with torch.no_grad():
        accuracy = (model(images).argmax(1) == labels).double().mean().item()
    print(f"loaded {len(state)} tensors with strict=True; PyTorch test accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()
