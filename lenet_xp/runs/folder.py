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

A run owns its folder from :meth:`RunFolder.claim` to :meth:`RunFolder.close`: ``run.lock``
(:mod:`lenet_xp.runs.lock`) refuses a second run meanwhile, and a new run does not start in
a folder that holds another run's weights unless told to replace them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from ..atomic import atomic_file
from . import curves
from .checkpoint import save_checkpoint, save_state
from .lock import FolderBusy, RunLock
from .metrics import epoch_record, test_record

METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.npz"
MODEL = "model.npz"
CURVES = "curves.png"

#: curves.png is redrawn after an epoch once the training since the last drawing took this
#: many times as long as that drawing: plotting then costs at most 1/30 of a run, fast models
#: redraw every few epochs and slow ones after every epoch; the test result is always drawn.
DRAW_EVERY = 30


class RunFolderError(ValueError):
    """A folder a run cannot have: a file, not writable, in use by another run, or holding
    another run's weights; the message names it and the way out."""


def make_folder(path: Path) -> None:
    """Create the output folder ``path`` (and its parents) if need be; RunFolderError says
    why it cannot be (a file of that name, a read-only file system, ...)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise RunFolderError(f"--out {path} is a file, not a folder: choose a folder for the "
                             "run's files") from None
    except OSError as exc:
        raise RunFolderError(f"cannot make the folder {path} ({exc.strerror}): choose another "
                             "--out") from None


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
        self._lock: RunLock | None = None

    def claim(self, new: bool = True, overwrite: bool = False) -> None:
        """Make the folder this run's before it writes anything: create it, lock it against
        other runs (:mod:`lenet_xp.runs.lock`) and, for a ``new`` run, refuse a folder that
        holds another run's ``model.npz`` or ``checkpoint.npz`` unless ``overwrite``, which
        deletes them, with that run's curves and metrics, now: once the new run has its data
        and model and is about to write its own. Raises RunFolderError; :meth:`close` lets go."""
        make_folder(self.path)
        try:
            self._lock = RunLock(self.path, self.log)
        except FolderBusy as exc:
            raise RunFolderError(str(exc)) from None
        except OSError as exc:
            raise RunFolderError(f"cannot write in {self.path} ({exc.strerror}): choose another "
                                 "--out") from None
        if new:
            try:
                self._replace_old_run(overwrite)
            except BaseException:
                self.close()
                raise

    def _replace_old_run(self, overwrite: bool) -> None:
        if not overwrite and self.model.exists():
            raise RunFolderError(f"{self.path} holds a finished run ({MODEL}): continue it with "
                                 f"--resume {self.path} --epochs N, choose another --out, or "
                                 "replace it with --overwrite")
        if not overwrite and self.checkpoint.exists():
            raise RunFolderError(f"{self.path} holds a run that stopped before its end "
                                 f"({CHECKPOINT}): continue it with --resume {self.path}, "
                                 "choose another --out, or replace it with --overwrite")
        for old in (self.model, self.checkpoint, self.curves, self.metrics):
            old.unlink(missing_ok=True)

    def close(self) -> None:
        """Let go of the folder (another run may then use it)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

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

    def save_checkpoint(self, state: dict, meta: dict) -> Path:
        """``checkpoint.npz``: the run's whole ``state`` (a state tree,
        :mod:`lenet_xp.runs.checkpoint`) with its ``meta``."""
        return save_state(self.checkpoint, state, meta)

    def save_model(self, model, meta: dict) -> Path:
        """``model.npz``: ``model``'s arrays with ``meta``."""
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
