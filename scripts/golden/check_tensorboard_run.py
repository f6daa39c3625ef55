#!/usr/bin/env python3
"""Reads a run folder's TensorBoard events with TensorBoard's own event reader and checks every scalar against
the folder's metrics.jsonl (same tags, steps and values at 32-bit precision) and every image against images/.

    python scripts/golden/check_tensorboard_run.py RUN_FOLDER [RUN_FOLDER ...]   # each a seed's folder

Tags and steps as docs/guide/recipes.md states: `<trainer or phase>/<field>` at the record's `step`, `epoch`
or `round`, else its position in metrics.jsonl.
"""
import json
import pathlib
import sys

import numpy as np
from tensorboard.backend.event_processing import event_accumulator

STEP_KEYS = ["step", "epoch", "round"]


def expected_scalars(folder):
    expected = {}
    lines = (folder / "metrics.jsonl").read_text().splitlines()
    for index, line in enumerate(lines):
        record = json.loads(line)
        group = next((record[key] for key in ["trainer", "phase"] if isinstance(record.get(key), str)), None)
        step_key = next((key for key in STEP_KEYS
                         if isinstance(record.get(key), (int, float)) and not isinstance(record.get(key), bool)
                         and float(record[key]).is_integer()), None)
        step = int(record[step_key]) if step_key else index
        for key, value in record.items():
            if key in ("time", step_key) or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            tag = f"{group}/{key}" if group else key
            expected.setdefault(tag, []).append((step, float(np.float32(value))))
    return expected


def check(folder):
    folder = pathlib.Path(folder)
    reader = event_accumulator.EventAccumulator(
        str(folder / "tb"), size_guidance={event_accumulator.SCALARS: 0, event_accumulator.IMAGES: 0})
    reader.Reload()
    expected = expected_scalars(folder)
    tags = reader.Tags()
    assert sorted(tags["scalars"]) == sorted(expected), (sorted(tags["scalars"]), sorted(expected))
    count = 0
    for tag, values in expected.items():
        read = [(event.step, event.value) for event in reader.Scalars(tag)]
        assert [step for step, _ in read] == [step for step, _ in values], (tag, read[:5], values[:5])
        for (_, got), (_, want) in zip(read, values):
            assert got == want or (np.isnan(got) and np.isnan(want)), (tag, got, want)
        count += len(values)
    images = sum(len(reader.Images(tag)) for tag in tags["images"])
    pngs = len(list((folder / "images").glob("*.png"))) if (folder / "images").exists() else 0
    assert images >= pngs, (images, pngs)
    print(f"{folder}: {len(expected)} scalar tags, {count} values and {images} images read by TensorBoard, "
          "all equal to metrics.jsonl")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for argument in sys.argv[1:]:
        check(argument)
