"""The JSON API under ``/api/``: each endpoint a method of :class:`Api`, found by
:meth:`Api.endpoint` from the request's method and path. Models and runs are reached by their
served names only; anything else is a 404. The HTTP side (hosts, bodies, headers) is
:mod:`lenet_xp.web.handler`'s.

==========================================  ================================================
``GET  /api/models``                        the served models, runs, and whether there is
                                            a test set
``GET  /api/runs/NAME``                     a run's epochs so far, test result, recipe
``POST /api/predict?top=K&layers=NAME``     body: an image file. The digit the networks
                                            saw, every model's top K scores, and every
                                            layer of model NAME (default: the first)
``GET  /api/evaluation/NAME``               model NAME on the test set (computed once)
``GET  /api/evaluation/NAME/cell?true=T&predicted=P``  the test digits of one confusion
                                            cell, with their scores
==========================================  ================================================
"""

from __future__ import annotations

from typing import Callable
from urllib.parse import parse_qs

from ..runs.checkpoint import CheckpointError
from ..data import DataError
from ..data.images import ImageError, digit_from_file
from ..tools.evaluation import NUM_CLASSES
from .security import MAX_PIXELS, check_image
from .served import Catalogue, NotReady, ServedModel
from .testset import TestSet
from .views import cell_json, evaluation_json, image_json, layers_json, model_json, run_json, \
    top_json

#: how messages call the image of a request
UPLOAD = "uploaded image"


class ApiError(Exception):
    """A request the API refuses: the HTTP ``status`` and a message saying why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


class Api:
    """The endpoints over a :class:`Catalogue` and a :class:`TestSet`; an uploaded image may
    have up to ``max_pixels`` pixels."""

    def __init__(self, catalogue: Catalogue, test_set: TestSet, max_pixels: int = MAX_PIXELS):
        self.catalogue, self.test_set, self.max_pixels = catalogue, test_set, max_pixels

    def endpoint(self, method: str, path: str) -> tuple[Callable, bool]:
        """``(call, takes_body)`` for a request; ``call(query, body)`` answers it as a dict.
        Raises ApiError 404 (no such endpoint or name) or 405 (wrong method)."""
        parts = path.removeprefix("/api/").split("/")
        models, runs = self.catalogue.models, self.catalogue.runs
        routes = {
            ("models",): ("GET", lambda q, b: self.models()),
            ("predict",): ("POST", lambda q, b: self.predict(q, b)),
        }
        if len(parts) == 2 and parts[0] == "runs" and parts[1] in runs:
            routes[tuple(parts)] = ("GET", lambda q, b: self.run(parts[1]))
        if 2 <= len(parts) <= 3 and parts[0] == "evaluation" and parts[1] in models:
            served = models[parts[1]]
            routes[("evaluation", parts[1])] = ("GET", lambda q, b: self.evaluation(served))
            routes[("evaluation", parts[1], "cell")] = ("GET", lambda q, b: self.cell(served, q))
        route = routes.get(tuple(parts))
        if route is None:
            raise ApiError(404, f"no API endpoint at {path}")
        if route[0] != method:
            raise ApiError(405, f"{path} takes {route[0]} requests")
        return route[1], method == "POST"

    def models(self) -> dict:
        """Every served model (or why it has no weights yet), the runs, and whether the
        Evaluate page has a test set."""
        entries = []
        for name, served in self.catalogue.models.items():
            try:
                entries.append(served.use(lambda model: model_json(name, model)))
            except (NotReady, CheckpointError) as exc:
                entries.append({"name": name, "error": str(exc)})
        return {"models": entries, "runs": list(self.catalogue.runs),
                "evaluation": self.test_set.available}

    def run(self, name: str) -> dict:
        run = self.catalogue.runs[name]
        records = run.metrics.read()
        try:
            meta = run.model.use(lambda model: model.meta)
        except (NotReady, CheckpointError):
            meta = None
        return run_json(name, records, run.metrics.problems, meta)

    def predict(self, query: str, body: bytes) -> dict:
        """Frame the image as ``scripts/predict.py`` does, classify it with every model."""
        params = _params(query)
        top = _int_param(params, "top", 3, 1, NUM_CLASSES)
        models = self.catalogue.models
        chosen = params.get("layers", next(iter(models)))
        if chosen not in models:
            raise ApiError(404, f"layers={chosen}: no model of that name is served "
                                f"({', '.join(models)})")
        try:
            check_image(body, UPLOAD, self.max_pixels)
            digit = digit_from_file(body, UPLOAD, self.max_pixels)
        except ImageError as exc:
            raise ApiError(400, str(exc)) from None
        predictions = []
        for name, served in models.items():
            try:
                top_pairs = served.use(lambda model: (model.score_name,
                                                      model.predict(digit).top(top)[0]))
                predictions.append({"model": name, "score_name": top_pairs[0],
                                    "top": top_json(top_pairs[1])})
            except (NotReady, CheckpointError) as exc:
                predictions.append({"model": name, "error": str(exc)})
        try:
            stages = models[chosen].use(lambda model: layers_json(model, digit))
        except (NotReady, CheckpointError):
            stages = []
        return {"digit": image_json(digit), "predictions": predictions,
                "layers": {"model": chosen, "stages": stages}}

    def evaluation(self, served: ServedModel) -> dict:
        evaluated = self._evaluated(served)
        return evaluation_json(served.name, evaluated.model, evaluated.evaluation)

    def cell(self, served: ServedModel, query: str) -> dict:
        params = _params(query)
        true = _int_param(params, "true", None, 0, NUM_CLASSES - 1)
        predicted = _int_param(params, "predicted", None, 0, NUM_CLASSES - 1)
        evaluated = self._evaluated(served)
        digits, _ = self.test_set.arrays()
        return cell_json(evaluated.evaluation, true, predicted, digits,
                         lambda shown: served.score_digits(evaluated, shown, 3))

    def _evaluated(self, served: ServedModel):
        try:
            digits, labels = self.test_set.arrays()
        except (LookupError, DataError, OSError) as exc:
            raise ApiError(503, str(exc)) from None
        try:
            return served.evaluation(digits, labels)
        except (NotReady, CheckpointError) as exc:
            raise ApiError(503, str(exc)) from None


def _params(query: str) -> dict[str, str]:
    """A query string -> its parameters (the last value of each)."""
    try:
        pairs = parse_qs(query, keep_blank_values=True, max_num_fields=20)
    except ValueError as exc:
        raise ApiError(400, f"bad query string: {exc}") from None
    return {key: values[-1] for key, values in pairs.items()}


def _int_param(params: dict, key: str, default: int | None, low: int, high: int) -> int:
    value = params.get(key)
    if value is None:
        if default is None:
            raise ApiError(400, f"give {key}={low}..{high}")
        return default
    digits = value.lstrip("0") or "0"  # int() refuses more than 4,300 digits: 500 before
    if not (value.isascii() and value.isdigit() and len(digits) <= len(str(high))
            and low <= int(digits) <= high):
        shown = value if len(value) <= 20 else f"{value[:20]}... ({len(value):,} characters)"
        raise ApiError(400, f"{key}={shown}: expected a whole number from {low} to {high}")
    return int(digits)
