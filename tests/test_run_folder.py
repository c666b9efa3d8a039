"""A run's folder: metrics restart from a checkpoint's history, curves drawn as the run goes."""

from __future__ import annotations

import json

from lenet_xp.runs import curves
from lenet_xp.runs import folder as run_folder
from lenet_xp.runs.folder import DRAW_EVERY, RunFolder
from lenet_xp.training.state import EpochStats


def _stats(epoch):
    return EpochStats(epoch, 1e-3, 0.5, 0.9, 0.4, 0.92, 1.0, 100.0, float(epoch + 1))


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_curves_are_redrawn_when_training_outlasts_drawing(tmp_path, monkeypatch):
    clock, drawn = Clock(), []

    def draw(records, path, title=None):
        drawn.append(len(records))
        clock.now += 1.0  # each drawing takes 1 s

    monkeypatch.setattr(run_folder.time, "perf_counter", clock)
    monkeypatch.setattr(curves, "plot_learning_curves", draw)
    folder = RunFolder(tmp_path, log=lambda line: None)
    folder.restart([])
    assert drawn == [], "nothing to draw yet"
    for epoch in range(6):
        clock.now += DRAW_EVERY / 3  # an epoch takes a third of the wait
        folder.add_epoch(_stats(epoch))
    assert drawn == [1, 4], "after the first epoch, then once 30 drawing-times have passed"
    folder.add_test({"test_accuracy": 0.99})
    assert drawn == [1, 4, 7], "the test result is always drawn"


def test_restart_rewrites_the_metrics_from_a_history(tmp_path):
    folder = RunFolder(tmp_path, plot=False)
    (tmp_path / "metrics.jsonl").write_text("a torn line from a killed run\n")
    folder.restart([_stats(0), _stats(1)])
    folder.add_epoch(_stats(2))
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["event"], r["epoch"]) for r in lines] == [("epoch", 0), ("epoch", 1), ("epoch", 2)]


def test_without_matplotlib_the_run_goes_on_and_says_so(tmp_path, monkeypatch):
    def missing(*args, **kwargs):
        raise ImportError("lenet_xp.plots needs matplotlib: pip install 'lenet_xp[plot]'")

    monkeypatch.setattr(curves, "plot_learning_curves", missing)
    told = []
    folder = RunFolder(tmp_path, log=told.append)
    folder.restart([])
    folder.add_epoch(_stats(0))
    folder.add_epoch(_stats(1))
    assert told == ["no curves.png: lenet_xp.plots needs matplotlib: pip install 'lenet_xp[plot]'"]
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 2
