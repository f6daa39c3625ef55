#!/usr/bin/env python3
"""Golden TensorBoard event file (issue 28), written by the `tensorboard` package's own protocol buffers and
record writer.

    python scripts/golden/make_tensorboard_golden.py   # writes Tests/Fixtures/tensorboard.tfevents

The file holds, in order: the version event; scalars at step 3 (two tags, one event); a zero scalar at step 0;
a negative scalar at a step past 2^32; an image summary. TensorBoardTests builds the same events with
`TensorBoardEvents` and compares the bytes, and reads the fixture back. The script checks that TensorBoard's
event reader reads the file as written.
"""
import pathlib
import tempfile

from tensorboard.backend.event_processing import event_accumulator
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

FIXTURE = pathlib.Path(__file__).resolve().parents[2] / "Tests/Fixtures/tensorboard.tfevents"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(24))


def scalars(wall_time, step, values):
    summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value) for tag, value in values])
    return event_pb2.Event(wall_time=wall_time, step=step, summary=summary)


events = [
    event_pb2.Event(wall_time=1700000000.25, file_version="brain.Event:2"),
    scalars(1700000001.5, 3, [("auditor/train_loss", 0.5), ("auditor/val_accuracy", 0.875)]),
    scalars(1700000002.0, 0, [("evaluation/test_accuracy", 0.0)]),
    scalars(1700000003.75, 12345678901, [("gan/critic_loss", -1.25e-3)]),
    event_pb2.Event(
        wall_time=1700000004.0, step=100,
        summary=summary_pb2.Summary(value=[summary_pb2.Summary.Value(
            tag="gan/samples",
            image=summary_pb2.Summary.Image(height=2, width=3, colorspace=1, encoded_image_string=PNG))])),
]
with open(FIXTURE, "wb") as file:
    writer = RecordWriter(file)
    for event in events:
        writer.write(event.SerializeToString())

# TensorBoard's reader sees what was written (it needs "tfevents" in the file name).
with tempfile.TemporaryDirectory() as folder:
    copy = pathlib.Path(folder) / "events.out.tfevents.1700000000.golden"
    copy.write_bytes(FIXTURE.read_bytes())
    reader = event_accumulator.EventAccumulator(folder, size_guidance={event_accumulator.SCALARS: 0})
    reader.Reload()
    assert sorted(reader.Tags()["scalars"]) == [
        "auditor/train_loss", "auditor/val_accuracy", "evaluation/test_accuracy", "gan/critic_loss"]
    (critic,) = reader.Scalars("gan/critic_loss")
    assert critic.step == 12345678901 and abs(critic.value + 1.25e-3) < 1e-9, critic
    assert reader.Tags()["images"] == ["gan/samples"]
print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size} bytes)")
