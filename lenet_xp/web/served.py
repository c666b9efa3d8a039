"""What a server serves, by name: the models it classifies with and the runs it follows.

A command-line argument is a run folder (its metrics, and the newer of its ``model.npz`` and
``checkpoint.npz``: the latest checkpoint while it trains, also when a finished run is resumed
for more epochs) or a model file. A run folder that does not exist yet (``serve.py`` started
together with ``train.py``) is waited for: served as a run without weights until it appears.
Each gets a name made of safe characters (``lenet5``, ``lenet5-2``); URLs reach them by that
name only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from ..inference import TrainedModel, load_model
from ..inference.evaluation import Evaluation, evaluate_digits
from ..runs.checkpoint import CheckpointError
from ..runs.folder import CHECKPOINT, METRICS, MODEL
from ..runs.lock import LOCK
from ..runs.metrics_tail import MetricsTail
from .explain import network_json

T = TypeVar("T")


class ServeError(ValueError):
    """An argument that cannot be served; the message names it and says why."""


class NotReady(RuntimeError):
    """A served model without weights yet (a run before its first checkpoint)."""


@dataclasses.dataclass(frozen=True)
class Evaluated:
    """A model's evaluation on the test set, with the copy of the model that made it (its
    weights file's ``signature``), which also scores the digits of a confusion cell."""

    signature: tuple
    model: TrainedModel
    evaluation: Evaluation


class ServedModel:
    """A model file, or a run folder's newest weights, loaded again whenever the file
    changes (a run that is still training writes a new checkpoint every epoch).

    Forward passes run one at a time per model (layers keep the state of their last call);
    the evaluation runs on a copy of its own, so predictions go on meanwhile. Each makes its
    model's device current on the thread that computes (:func:`_on_this_thread`). ``run``: the
    source is a run folder (which may not exist yet), not a model file.
    """

    def __init__(self, name: str, source: Path, device: str = "cpu", run: bool = False):
        self.name, self.source, self.device, self.run = name, Path(source), device, run
        self._lock = threading.Lock()
        self._evaluation_lock = threading.Lock()
        self._model: TrainedModel | None = None
        self._signature: tuple | None = None
        self._network: tuple[TrainedModel, dict] | None = None
        self._evaluated: Evaluated | None = None

    def weights_file(self) -> Path | None:
        """The file the weights come from now: a model file itself; in a run folder the newer
        of ``model.npz`` and ``checkpoint.npz`` (a finished run resumed for more epochs writes
        checkpoints after its ``model.npz``; on a tie ``model.npz``), None before either."""
        if not self.run:
            return self.source
        newest = None
        for path in (self.source / MODEL, self.source / CHECKPOINT):
            try:
                written = path.stat().st_mtime_ns
            except OSError:
                continue
            if newest is None or written > newest[0]:
                newest = (written, path)
        return newest[1] if newest else None

    @property
    def version(self) -> str | None:
        """A short name of the weights loaded now (it changes when they are loaded again)."""
        if self._signature is None:
            return None
        return hashlib.sha1(repr(self._signature).encode()).hexdigest()[:12]

    def use(self, work: Callable[[TrainedModel], T]) -> T:
        """``work(model)`` with the newest weights, one call at a time. Raises NotReady, or
        CheckpointError for a file that cannot be loaded (a damaged one keeps the weights
        loaded before, if any)."""
        with self._lock:
            return work(_on_this_thread(self._current()))

    def network(self) -> dict:
        """``{"model", "version", "stages"}``: what every layer of the current model does and
        its parameters (:func:`lenet_xp.web.explain.network_json`), made once per weights."""
        with self._lock:
            model = self._current()
            if self._network is None or self._network[0] is not model:
                self._network = (model, {"model": self.name, "version": self.version,
                                         "stages": network_json(model)})
            return self._network[1]

    def evaluation(self, digits: np.ndarray, labels: np.ndarray) -> Evaluated:
        """The evaluation on test ``digits`` (N, 28, 28) uint8 with ``labels`` (N,): computed
        on the first call, and again only when the weights have changed."""
        with self._evaluation_lock:
            path, signature = self._weights()
            if self._evaluated is None or self._evaluated.signature != signature:
                model = load_model(path, device=self.device)
                self._evaluated = Evaluated(signature, model,
                                            evaluate_digits(_on_this_thread(model), digits,
                                                            labels))
            return self._evaluated

    def score_digits(self, evaluated: Evaluated, digits: np.ndarray, top: int) -> list:
        """The top ``(class, score)`` pairs of ``digits`` by the model that made ``evaluated``."""
        with self._evaluation_lock:
            return _on_this_thread(evaluated.model).predict(digits).top(top)

    def _weights(self) -> tuple[Path, tuple]:
        path = self.weights_file()
        if path is None and not self.source.exists():
            raise NotReady(f"{self.name}: waiting for {self.source}, which does not exist yet "
                           f"(scripts/train.py --out {self.source} makes it)")
        if path is None:
            raise NotReady(f"{self.name}: no weights yet ({self.source} has no {MODEL} or "
                           f"{CHECKPOINT}: the run has not finished its first epoch)")
        try:
            status = path.stat()
        except FileNotFoundError:
            raise CheckpointError(f"no checkpoint at {path}") from None
        return path, (str(path), status.st_ino, status.st_mtime_ns, status.st_size)

    def _current(self) -> TrainedModel:
        try:
            path, signature = self._weights()
            if signature != self._signature or self._model is None:
                self._model, self._signature = load_model(path, device=self.device), signature
            return self._model
        except (NotReady, CheckpointError):
            if self._model is None or not self.run:
                raise
            return self._model  # a run's weights loaded before, while its new file is not ready


def _on_this_thread(model: TrainedModel) -> TrainedModel:
    """``model``, its device made the calling thread's current one: each request has a thread
    of its own, and CuPy launches kernels on the thread's current GPU, which is GPU 0 until the
    thread says otherwise (a server of ``cuda:1`` would compute on GPU 0). load_model does
    the same for the thread that loads."""
    model.backend.use()
    return model


class ServedRun:
    """A run folder's learning curves, read while the run appends to ``metrics.jsonl``, and
    its model (for the recipe)."""

    def __init__(self, name: str, folder: Path, model: ServedModel):
        self.name, self.folder, self.model = name, Path(folder), model
        self.metrics = MetricsTail(self.folder / METRICS)


@dataclasses.dataclass
class Catalogue:
    """The served models and runs by name, in the order of the command line."""

    models: dict[str, ServedModel]
    runs: dict[str, ServedRun]

    def waiting(self) -> list[Path]:
        """The run folders that do not exist yet."""
        return [run.folder for run in self.runs.values() if not run.folder.exists()]


def open_catalogue(paths, device: str = "cpu") -> Catalogue:
    """Run folders and model files -> the :class:`Catalogue`, every model loaded once to
    check it. A path that does not exist and does not end in ``.npz`` is a run folder to
    come (see :meth:`Catalogue.waiting`); so is an empty folder, or one that holds only a
    starting run's lock. Raises ServeError (a missing model file, a folder that is not a
    run's, a model that does not load) or DeviceError."""
    paths = [Path(path) for path in paths]
    if not paths:
        raise ServeError("give at least one run folder or model file")
    models, runs = {}, {}
    for name, path in zip(served_names(paths), paths, strict=True):
        if _names_a_run(path):
            if path.is_dir() and not _run_folder(path):
                raise ServeError(f"{path} is not a run folder (it has no {METRICS}, {MODEL} or "
                                 f"{CHECKPOINT}): give a folder written by scripts/train.py")
            models[name] = ServedModel(name, path, device, run=True)
            runs[name] = ServedRun(name, path, models[name])
        elif path.is_file():
            models[name] = ServedModel(name, path, device)
        else:
            raise ServeError(f"{path}: no such file (to follow a run that has not started yet, "
                             "give its folder)")
        try:
            models[name].use(lambda model: None)
        except NotReady:
            pass  # a run that has just started: its model comes with its first checkpoint
        except CheckpointError as exc:
            raise ServeError(str(exc)) from None
    return Catalogue(models, runs)


def _names_a_run(path: Path) -> bool:
    """Whether a command-line path is a run folder: a folder, or a path that does not exist
    yet and is not a model file's (``.npz``)."""
    return path.is_dir() or (not path.exists() and path.suffix != ".npz")


def _run_folder(path: Path) -> bool:
    """Whether an existing folder is a run's: it holds a run's files, or nothing yet but
    the lock of the run that is starting in it, or nothing at all."""
    names = {entry.name for entry in path.iterdir()}
    return bool(names & {METRICS, MODEL, CHECKPOINT}) or names <= {LOCK}


def served_names(paths: list[Path]) -> list[str]:
    """The name each path is served under: a run folder's name, a model file's folder name
    (for ``model.npz`` and ``checkpoint.npz``) or its stem; characters other than letters,
    digits, '.', '_' and '-' become '-', and a repeated name gets '-2', '-3', ..."""
    names: list[str] = []
    for path in paths:
        path = path.resolve()
        if _names_a_run(path):
            base = path.name
        else:
            base = path.parent.name if path.name in (MODEL, CHECKPOINT) else path.stem
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip(".-") or "model"
        name, count = base, 1
        while name in names:
            count += 1
            name = f"{base}-{count}"
        names.append(name)
    return names
