"""lenet_xp.runs.metrics_tail: a metrics.jsonl read while a run writes it."""

from __future__ import annotations

import json
import os

from lenet_xp.runs.metrics_tail import MetricsTail


def _line(epoch: int) -> str:
    return json.dumps({"event": "epoch", "epoch": epoch, "train_loss": 1.0 / (epoch + 1)}) + "\n"


def test_reads_only_complete_lines_as_they_come(tmp_path):
    path = tmp_path / "metrics.jsonl"
    tail = MetricsTail(path)
    assert tail.read() == [], "no file yet: no records"
    path.write_text(_line(0))
    assert [r["epoch"] for r in tail.read()] == [0]
    half = _line(1)
    with path.open("a") as file:
        file.write(half[:10])  # the run is in the middle of writing epoch 1
    assert [r["epoch"] for r in tail.read()] == [0], "a half-written line waits"
    with path.open("a") as file:
        file.write(half[10:] + _line(2))
    assert [r["epoch"] for r in tail.read()] == [0, 1, 2]
    assert tail.read() == tail.read() and tail.problems == []


def test_a_replaced_or_shortened_file_is_read_again(tmp_path):
    path = tmp_path / "metrics.jsonl"
    tail = MetricsTail(path)
    path.write_text(_line(0) + _line(1) + _line(2))
    assert len(tail.read()) == 3
    replacement = tmp_path / "new.jsonl"
    replacement.write_text(_line(0) + _line(1) + _line(2) + _line(3))
    os.replace(replacement, path)  # as RunFolder.restart does when a run resumes
    assert [r["epoch"] for r in tail.read()] == [0, 1, 2, 3], "read from the start, not appended"
    path.write_text(_line(5))  # truncated and rewritten in place: shorter than before
    assert [r["epoch"] for r in tail.read()] == [5]
    path.unlink()
    assert tail.read() == []


def test_lines_that_are_not_json_objects_are_skipped_and_named(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(_line(0) + "{broken\n" + "\n" + "[1, 2]\n" + _line(1))
    tail = MetricsTail(path)
    assert [r["epoch"] for r in tail.read()] == [0, 1]
    assert tail.problems == [f"{path} line 2 is not a JSON object: skipped",
                             f"{path} line 4 is not a JSON object: skipped"]
