"""The JSON answers of the API, made from what lenet_xp computes: the digit a network saw,
its top scores, every layer's output (:mod:`lenet_xp.web.explain` says what each layer is),
a run's curves and recipe, a model's evaluation.

Images travel as ``{"width": w, "height": h, "pixels": base64}``: w·h uint8 grey levels,
row by row (the page paints them into a canvas: a data: URL would break the page's
Content-Security-Policy).
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import numpy as np

from ..backend import to_numpy
from ..inference import TrainedModel
from ..inference.evaluation import Evaluation
from ..layers import EuclideanRBF
from ..models import MODELS, get_model
from .explain import floats_json

#: how many digits of one confusion cell are sent at most
CELL_DIGITS = 100


def image_json(pixels: np.ndarray) -> dict:
    """uint8 (h, w) -> ``{"width", "height", "pixels"}`` (base64 of the bytes, row-major)."""
    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    height, width = pixels.shape
    return {"width": width, "height": height,
            "pixels": base64.b64encode(pixels.tobytes()).decode("ascii")}


def model_json(name: str, model: TrainedModel, version: str | None = None) -> dict:
    """What a served model is: its served name, zoo network, size, scores, how far it trained
    (``epoch``: epochs done; ``epochs``: the recipe's; ``val_accuracy`` of the last epoch;
    ``test_accuracy``, None until the run ends) and the ``version`` of its weights."""
    meta = model.meta
    history = meta.get("history") or []
    last = history[-1] if history and isinstance(history[-1], dict) else {}
    return {"name": name, "network": model.name, "description": model.spec.description,
            "parameters": model.num_parameters(), "epoch": meta.get("epoch", len(history)),
            "epochs": (meta.get("recipe") or {}).get("epochs"),
            "val_accuracy": last.get("val_accuracy"),
            "score_name": model.score_name, "score_kind": type(model.loss).SCORE_KIND,
            "test_accuracy": meta.get("test_accuracy"), "version": version}


def top_json(top: list[tuple[int, float]]) -> list[list]:
    """(class, score) pairs -> ``[[class, score], ...]``, as ``scripts/predict.py --json``."""
    return [[c, s] for c, s in top]


def prediction_json(name: str, model: TrainedModel, outputs, top: int) -> dict:
    """One model's answer for one digit from its network's ``outputs`` (1, K): its ``top``
    (class, score) pairs; for the MAP posterior, ``none``, the share left to "none of
    these"; for an RBF output, the ``penalties`` (smaller is closer)."""
    predictions = model.predictions(outputs)
    answer = {"model": name, "score_name": model.score_name,
              "score_kind": type(model.loss).SCORE_KIND, "top": top_json(predictions.top(top)[0])}
    if answer["score_kind"] == "map_posterior":
        answer["none"] = max(0.0, 1.0 - float(predictions.scores[0].sum()))
    if isinstance(model.network.layers[-1], EuclideanRBF):
        answer["penalties"] = _floats(to_numpy(outputs)[0])
    return answer


def stages_json(name: str, version: str | None, values: list[np.ndarray]) -> dict:
    """Every stage's values for one digit (:func:`lenet_xp.web.explain.activations`), as
    ``{"model", "version", "stages": [{"shape", "data"}, ...]}`` in the order of the stages
    of ``GET /api/network/NAME`` of that ``version``."""
    return {"model": name, "version": version, "stages": [floats_json(v) for v in values]}


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
                       for i, top in zip(shown, tops, strict=True)]}


#: what each loss is called on the Runs page: losses of one name are comparable on one axis
LOSS_NAMES = {"SoftmaxCrossEntropy": "cross-entropy", "RBFCrossEntropy": "cross-entropy",
              "MAPLoss": "MAP criterion", "MeanSquaredError": "mean squared error"}


def run_json(name: str, records: list[dict], problems: list[str], meta: dict | None) -> dict:
    """A run's curves so far: its epoch records, its test record (None while it trains or
    once it is resumed for more epochs: the test record is the file's last), the recipe its
    newest weights file records (None before the first one), its ``loss`` (what the
    training loss is, :data:`LOSS_NAMES`) and the lines skipped."""
    epochs = [record for record in records if record.get("event") == "epoch"]
    last = records[-1] if records else {}
    meta = meta or {}
    loss = None
    if meta.get("model") in MODELS:
        loss_class = get_model(meta["model"]).loss.__name__
        loss = LOSS_NAMES.get(loss_class, loss_class)
    return {"name": name, "epochs": epochs,
            "test": last if last.get("event") == "test" else None,
            "network": meta.get("model"), "recipe": meta.get("recipe"), "loss": loss,
            "problems": problems}


def _floats(values: np.ndarray) -> list[float]:
    return [float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1)]
