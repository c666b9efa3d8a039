"""A run's metrics.jsonl (lenet_xp.runs.metrics): the records the run folder writes are the
ones its readers find."""

from __future__ import annotations

import pytest

from lenet_xp.runs.folder import METRICS, RunFolder
from lenet_xp.runs.metrics import epochs_of, last_test, read_metrics
from lenet_xp.training.state import EpochStats


def test_what_the_folder_writes_the_readers_find(tmp_path):
    folder = RunFolder(tmp_path, plot=False)
    folder.restart([])
    for epoch in range(3):
        folder.add_epoch(EpochStats(epoch, 1e-3, 0.5, 0.9, 0.4, 0.9, 1.0, 100.0, epoch + 1.0))
    assert last_test(read_metrics(tmp_path / METRICS)) is None
    folder.add_test({"test_loss": 0.1, "test_accuracy": 0.97, "epochs": 3})
    folder.add_test({"test_loss": 0.1, "test_accuracy": 0.98, "epochs": 3})
    records = read_metrics(tmp_path / METRICS)
    assert [r["epoch"] for r in epochs_of(records)] == [0, 1, 2]
    assert last_test(records)["test_accuracy"] == 0.98


def test_a_line_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / METRICS
    path.write_bytes(b'{"event": "epoch"}\n\x82\xff garbage\n')
    with pytest.raises(ValueError, match=r"metrics.jsonl:2: not UTF-8 text \(byte 0x82"):
        read_metrics(path)
