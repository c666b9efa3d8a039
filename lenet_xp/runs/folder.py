"""A training run's output folder and the files in it, each written so that a crash at any
moment leaves the last good state readable:

==================  =================================================================
``metrics.jsonl``   one JSON object per finished epoch, then the test result
                    (:mod:`lenet_xp.runs.metrics`); appended line by line
``checkpoint.npz``  after every epoch: weights, optimiser, random and training state
                    (what ``scripts/train.py --resume`` needs); replaced atomically
``model.npz``       the final weights and the test result; written atomically
``curves.png``      the learning curves, redrawn as the run goes and at its end
                    (needs matplotlib)
==================  =================================================================

A run killed between writing an epoch's metrics line and its checkpoint leaves one line
more than the checkpoint knows; :meth:`RunFolder.restart` rewrites the file from the
checkpoint's own history, so the two always agree after a resume.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from ..atomic import atomic_file
from . import curves
from .checkpoint import save_checkpoint
from .metrics import epoch_record, test_record

METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.npz"
MODEL = "model.npz"
CURVES = "curves.png"

#: curves.png is redrawn after an epoch once the training since the last drawing took this
#: many times as long as that drawing: plotting then costs at most 1/30 of a run, fast models
#: redraw every few epochs and slow ones after every epoch; the test result is always drawn.
DRAW_EVERY = 30


class RunFolder:
    """Writes a run's files into ``path`` (created if needed).

    ``plot`` draws ``curves.png`` as the run goes (see :data:`DRAW_EVERY`); without
    matplotlib, ``log`` is told once how to get it and training goes on.
    """

    def __init__(self, path, *, plot: bool = True, title: str = "",
                 log: Callable[[str], None] = print):
        self.path = Path(path)
        self.plot = plot
        self.title = title
        self.log = log
        self.records: list[dict] = []
        self._drawn_at = self._draw_seconds = 0.0  # when the last drawing ended, its duration

    @property
    def metrics(self) -> Path:
        return self.path / METRICS

    @property
    def checkpoint(self) -> Path:
        return self.path / CHECKPOINT

    @property
    def model(self) -> Path:
        return self.path / MODEL

    @property
    def curves(self) -> Path:
        return self.path / CURVES

    def restart(self, history: list) -> None:
        """Start ``metrics.jsonl`` afresh with the epochs of ``history``, a list of
        :class:`~lenet_xp.training.state.EpochStats` (empty for a new run, a checkpoint's
        history for a resumed one), atomically."""
        self.records = [epoch_record(stats) for stats in history]
        with atomic_file(self.metrics, "w") as file:
            file.writelines(json.dumps(record) + "\n" for record in self.records)
        if self.records:
            self._draw()

    def add_epoch(self, stats) -> None:
        self._append(epoch_record(stats))
        if time.perf_counter() - self._drawn_at >= DRAW_EVERY * self._draw_seconds:
            self._draw()

    def add_test(self, result: dict) -> None:
        self._append(test_record(result))
        self._draw()

    def save_checkpoint(self, model, meta: dict, optimizer, groups: dict) -> Path:
        return save_checkpoint(self.checkpoint, model, meta, optimizer, groups)

    def save_model(self, model, meta: dict) -> Path:
        return save_checkpoint(self.model, model, meta)

    def _append(self, record: dict) -> None:
        self.records.append(record)
        with self.metrics.open("a") as file:
            file.write(json.dumps(record) + "\n")

    def _draw(self) -> None:
        if not self.plot:
            return
        start = time.perf_counter()
        try:
            curves.plot_learning_curves(self.records, self.curves, title=self.title or None)
        except ImportError as exc:  # matplotlib is an optional extra
            self.log(f"no {CURVES}: {exc}")
            self.plot = False
        self._drawn_at = time.perf_counter()
        self._draw_seconds = self._drawn_at - start
