"""Reads an event file written by tos::train::EventWriter with TensorBoard's own loader and
checks the records written by misc_test.cc (EventWriter.TensorBoardReadsTheScalars)."""
import sys

from tensorboard.backend.event_processing.event_file_loader import EventFileLoader


def main(path):
    events = list(EventFileLoader(path).Load())
    assert events, "no events"
    assert events[0].file_version == "brain.Event:2", events[0]
    scalars = []
    for e in events[1:]:
        for v in e.summary.value:
            # The loader migrates simple_value into a tensor; accept both forms.
            value = v.simple_value if v.HasField("simple_value") else v.tensor.float_val[0]
            scalars.append((v.tag, e.step, round(e.wall_time, 3), round(value, 6)))
    want = [("loss", 1, 1001.0, 1.0), ("loss", 2, 1002.0, 0.5), ("loss", 3, 1003.0, round(1 / 3, 6)),
            ("accuracy", 3, 1003.5, 0.875)]
    assert scalars == want, scalars
    print("ok", len(events), "events")


if __name__ == "__main__":
    main(sys.argv[1])
