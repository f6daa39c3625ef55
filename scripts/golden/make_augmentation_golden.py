#!/usr/bin/env python3
"""Golden values for the augmentations (Tests/Fixtures/augmentations.safetensors), from torchvision's functional
transforms on a float64 batch x [3, 2, 5, 6]:

- flip: F.horizontal_flip of samples 0 and 2, sample 1 unchanged (RandomHorizontalFlip's effect once drawn).
- crop_<mode>: RandomCrop's effect once get_params has drawn (top, left) per sample: F.pad(x, 2, fill, mode)
  then F.crop(top, left, 5, 6), with padding modes constant (fill 0.5), edge, reflect and symmetric.
- crop_small: the same with constant padding 0 and an output of 4 x 5.
- crop_tops, crop_lefts (and crop_small_tops, crop_small_lefts): the windows' corners in padded coordinates.

    python scripts/golden/make_augmentation_golden.py     # venv with torch, torchvision and safetensors
"""
import os

import torch
import torchvision.transforms.v2.functional as F
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "augmentations.safetensors")
torch.manual_seed(5)
x = torch.rand(3, 2, 5, 6, dtype=torch.float64)
tensors = {"x": x}
tensors["flip"] = torch.stack([F.horizontal_flip(x[0]), x[1], F.horizontal_flip(x[2])])
tops, lefts = [0, 4, 2], [3, 0, 4]  # padded 9 x 10: a 5 x 6 window starts at rows 0-4, columns 0-4
tensors["crop_tops"] = torch.tensor(tops, dtype=torch.int64)
tensors["crop_lefts"] = torch.tensor(lefts, dtype=torch.int64)
for mode, fill in [("constant", 0.5), ("edge", 0.0), ("reflect", 0.0), ("symmetric", 0.0)]:
    padded = F.pad(x, [2, 2, 2, 2], fill=fill, padding_mode=mode)
    tensors[f"crop_{mode}"] = torch.stack([F.crop(padded[n], tops[n], lefts[n], 5, 6) for n in range(3)])
small_tops, small_lefts = [0, 1, 0], [1, 0, 1]  # unpadded 5 x 6: a 4 x 5 window starts at rows 0-1, columns 0-1
tensors["crop_small_tops"] = torch.tensor(small_tops, dtype=torch.int64)
tensors["crop_small_lefts"] = torch.tensor(small_lefts, dtype=torch.int64)
tensors["crop_small"] = torch.stack([F.crop(x[n], small_tops[n], small_lefts[n], 4, 5) for n in range(3)])
save_file({name: value.contiguous() for name, value in tensors.items()}, OUT)
print("wrote", OUT, {name: list(value.shape) for name, value in tensors.items()})
