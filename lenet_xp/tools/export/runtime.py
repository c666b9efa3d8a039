"""An exported graph run in ONNX Runtime (CPU): its session (:func:`onnx_session`), its answers
against lenet_xp's on the same digits (:func:`compare`) and its speed against lenet_xp's
(:func:`benchmark`). ONNX Runtime is an optional dependency (``pip install onnxruntime``)."""

from __future__ import annotations

import dataclasses
import functools
import os

import numpy as np

from ...backend import to_numpy
from ...inference import TrainedModel
from ..timing import median_seconds
from .graph import DIGITS, LABELS, OUTPUTS, SCORES, require

SCORE_TOLERANCE = 1e-4
"""The largest difference of scores between ONNX Runtime and lenet_xp :func:`compare` accepts."""


@dataclasses.dataclass(frozen=True)
class Agreement:
    """ONNX Runtime's results against lenet_xp's on ``count`` digits: how many labels agree,
    the largest score difference, and the largest raw-output difference over the outputs'
    scale, max(1, largest |output|) (RBF penalties and untrained logits run into the
    hundreds)."""

    count: int
    same_labels: int
    score_difference: float
    output_difference: float

    @property
    def agrees(self) -> bool:
        """Every label equal and every score within :data:`SCORE_TOLERANCE`."""
        return self.same_labels == self.count and self.score_difference <= SCORE_TOLERANCE


def onnx_session(exported):
    """An ONNX Runtime CPU session of an exported graph (a ModelProto or a file's path).

    Raises ImportError when onnxruntime is not installed."""
    runtime = require("onnxruntime")
    source = (os.fspath(exported) if isinstance(exported, (str, os.PathLike))
              else exported.SerializeToString())
    return runtime.InferenceSession(source, providers=["CPUExecutionProvider"])


def compare(model: TrainedModel, exported, digits: np.ndarray) -> Agreement:
    """Classify uint8 ``digits`` (N, 28, 28) with ``model`` in lenet_xp and with its export
    in ONNX Runtime (CPU), and compare labels, scores and raw outputs."""
    scores, labels, outputs = onnx_session(exported).run([SCORES, LABELS, OUTPUTS],
                                                         {DIGITS: digits})
    outputs_here = model.outputs(model.prepare(digits))
    ours = model.predictions(outputs_here)
    raw = to_numpy(outputs_here).astype(np.float64)
    return Agreement(count=len(digits), same_labels=int(np.sum(labels == ours.labels)),
                     score_difference=float(np.max(np.abs(scores - ours.scores))),
                     output_difference=float(np.max(np.abs(outputs - raw))
                                             / max(1.0, float(np.max(np.abs(raw))))))


@dataclasses.dataclass(frozen=True)
class InferenceTiming:
    """Median seconds to classify one batch of ``batch_size`` digits, from uint8 pixels to
    scores and labels, in lenet_xp and in ONNX Runtime."""

    batch_size: int
    lenet_xp: float
    onnx_runtime: float


#: untimed calls before each timing of :func:`benchmark`
WARMUP_CALLS = 5


def benchmark(model: TrainedModel, exported, batch_sizes=(1, 1000), calls: int = 50,
              seed: int = 0) -> list[InferenceTiming]:
    """Time ``model.predict`` against the export's ONNX Runtime session (CPU, its default
    threads) on the same random digits: the median of ``calls`` calls per batch size, after
    five warm-up calls each."""
    session = onnx_session(exported)
    digits = np.random.default_rng(seed).integers(0, 256, (max(batch_sizes), 28, 28), np.uint8)
    timings = []
    for batch_size in batch_sizes:
        batch = digits[:batch_size]
        ours = functools.partial(model.predict, batch)
        theirs = functools.partial(session.run, [SCORES, LABELS], {DIGITS: batch})
        timings.append(InferenceTiming(batch_size, median_seconds(ours, WARMUP_CALLS, calls),
                                       median_seconds(theirs, WARMUP_CALLS, calls)))
    return timings
