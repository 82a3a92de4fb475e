"""Reads the TensorBoard event files of a training run with TensorBoard's own loader and
checks the scalars the chief writes. Usage: check_events.py LOG_DIR"""
import glob
import os
import sys

from tensorboard.backend.event_processing.event_file_loader import EventFileLoader


def main(log_dir):
    files = sorted(glob.glob(os.path.join(log_dir, "events.out.tfevents.*")))
    assert files, "no event file in " + log_dir
    steps = {}
    for path in files:
        events = list(EventFileLoader(path).Load())
        assert events[0].file_version == "brain.Event:2", events[0]
        for e in events[1:]:
            for v in e.summary.value:
                value = v.simple_value if v.HasField("simple_value") else v.tensor.float_val[0]
                steps.setdefault(v.tag, []).append((e.step, value))
    tags = ["loss", "accuracy", "samples_per_sec", "learning_rate"]
    for tag in tags:
        assert tag in steps, (tag, sorted(steps))
        seq = [s for s, _ in steps[tag]]
        assert seq == sorted(seq) and seq[0] > 0, (tag, seq)
    losses = [v for _, v in steps["loss"]]
    assert all(0 < l < 10 for l in losses), losses
    assert all(0 <= a <= 1 for _, a in steps["accuracy"])
    print(" ".join(tags), "present;", len(losses), "loss points, last", round(losses[-1], 4))


if __name__ == "__main__":
    main(sys.argv[1])
