"""The JSON answers of the API, made from what lenet_xp computes: the digit a network saw,
its top scores, every layer's output, a run's curves and recipe, a model's evaluation.

Images travel as ``{"width": w, "height": h, "pixels": base64}``: w·h uint8 grey levels,
row by row (the page paints them into a canvas: a data: URL would break the page's
Content-Security-Policy).
"""

from __future__ import annotations

import base64
from typing import Callable

import numpy as np

from ..tools.evaluation import Evaluation
from ..tools.inference import TrainedModel
from ..layers import EuclideanRBF

#: how many digits of one confusion cell are sent at most
CELL_DIGITS = 100


def image_json(pixels: np.ndarray) -> dict:
    """uint8 (h, w) -> ``{"width", "height", "pixels"}`` (base64 of the bytes, row-major)."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    height, width = pixels.shape
    return {"width": width, "height": height,
            "pixels": base64.b64encode(pixels.tobytes()).decode("ascii")}


def model_json(name: str, model: TrainedModel) -> dict:
    """What a served model is: its served name, zoo network, size, epochs and scores."""
    return {"name": name, "network": model.name, "description": model.spec.description,
            "parameters": model.num_parameters(), "epoch": model.meta.get("epoch"),
            "score_name": model.score_name, "test_accuracy": model.meta.get("test_accuracy")}


def top_json(top: list[tuple[int, float]]) -> list[list]:
    """(class, score) pairs -> ``[[class, score], ...]``, as ``scripts/predict.py --json``."""
    return [[c, s] for c, s in top]


def layers_json(model: TrainedModel, digit: np.ndarray) -> list[dict]:
    """Every stage of ``model`` on one (28, 28) uint8 digit, input to output.

    Maps (C, h, w) with h·w > 1 become ``{"kind": "maps", "maps": [image, ...], "low",
    "high"}``, painted on one grey scale per layer (low -> 0, high -> 255) so weak maps look
    weak. Dense outputs become ``{"kind": "vector", "values": [...]}``. The last stage is
    ``{"kind": "output", "values": ...}``: the scores (softmax) of a linear output, or the
    penalties of an RBF output (the squared distances to each class's prototype: the
    smallest wins). Each has ``name``, ``layer`` (its class) and ``shape``.
    """
    layers = dict(zip(model.network.names, model.network.layers))
    stages = model.layer_outputs(digit)
    views = []
    for index, (name, output) in enumerate(stages):
        layer = layers[name]
        view = {"name": name, "layer": type(layer).__name__, "shape": list(output.shape)}
        if index == len(stages) - 1:
            rbf = isinstance(layer, EuclideanRBF)
            values = output if rbf else model.loss.scores(output[np.newaxis])[0]
            view.update(kind="output", values=_floats(values),
                        what="RBF penalties (the smallest wins)" if rbf else model.score_name)
        elif output.ndim == 3 and output.shape[1] * output.shape[2] > 1:
            low, high = float(output.min()), float(output.max())
            scale = 255 / (high - low) if high > low else 0.0
            grey = np.rint((output - low) * scale).astype(np.uint8)
            view.update(kind="maps", low=low, high=high, maps=[image_json(m) for m in grey])
        else:
            view.update(kind="vector", values=_floats(output.reshape(-1)))
        views.append(view)
    return views


def evaluation_json(name: str, model: TrainedModel, evaluation: Evaluation) -> dict:
    """A model's results on the test set: :meth:`Evaluation.to_dict` and what it is."""
    return {**model_json(name, model), **evaluation.to_dict()}


def cell_json(evaluation: Evaluation, true: int, predicted: int, digits: np.ndarray,
              score: Callable[[np.ndarray], list]) -> dict:
    """The test digits of the confusion cell (true, predicted), at most :data:`CELL_DIGITS`,
    each with its index in the test set and its top scores (``score(digits)`` -> top lists)."""
    indices = np.flatnonzero((evaluation.labels == true) & (evaluation.predicted == predicted))
    shown = indices[:CELL_DIGITS]
    tops = score(digits[shown]) if shown.size else []
    return {"true": true, "predicted": predicted, "count": int(indices.size),
            "digits": [{"index": int(i), "image": image_json(digits[i]), "top": top_json(top)}
                       for i, top in zip(shown, tops)]}


def run_json(name: str, records: list[dict], problems: list[str], meta: dict | None) -> dict:
    """A run's curves so far: its epoch records, its test record (None while it trains),
    the recipe its checkpoint records (None before the first one) and the lines skipped."""
    epochs = [record for record in records if record.get("event") == "epoch"]
    tests = [record for record in records if record.get("event") == "test"]
    meta = meta or {}
    return {"name": name, "epochs": epochs, "test": tests[-1] if tests else None,
            "network": meta.get("model"), "recipe": meta.get("recipe"),
            "problems": problems}


def _floats(values: np.ndarray) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1)]
