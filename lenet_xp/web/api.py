"""The JSON API under ``/api/``: each endpoint a method of :class:`Api`, found by
:meth:`Api.endpoint` from the request's method and path. Models and runs are reached by their
served names only; anything else is a 404. The HTTP side (hosts, bodies, headers) is
:mod:`lenet_xp.web.handler`'s.

==========================================  ================================================
``GET  /api/models``                        the served models, runs, and whether there is
                                            a test set
``GET  /api/runs/NAME``                     a run's epochs so far, test result, recipe
``POST /api/predict?top=K&layers=NAME``     body: an image file. The digit the networks
                                            saw, every model's top K scores, every layer
                                            of model NAME (default: the first), and why
                                            the ink may not be one digit
``GET  /api/network/NAME``                  what every layer of model NAME does, and its
                                            parameters
``GET  /api/testset/I?top=K&layers=NAME``   test digit I, answered as predict answers
``GET  /api/evaluation/NAME``               model NAME on the test set (computed once)
``GET  /api/evaluation/NAME/cell?true=T&predicted=P``  the test digits of one confusion
                                            cell, with their scores
==========================================  ================================================
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from urllib.parse import parse_qs

from ..data import DataError
from ..data.images import ImageError, digit_from_file
from ..data.ink import doubt
from ..inference import TrainedModel
from ..inference.evaluation import NUM_CLASSES
from ..runs.checkpoint import CheckpointError
from .explain import activations
from .security import MAX_PIXELS, check_image
from .served import Catalogue, NotReady, ServedModel
from .testset import TestSet
from .views import (
    cell_json,
    evaluation_json,
    image_json,
    model_json,
    prediction_json,
    run_json,
    stages_json,
)

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
        routes: dict[tuple[str, ...], tuple[str, Callable[[str, bytes], dict]]] = {
            ("models",): ("GET", lambda q, b: self.models()),
            ("predict",): ("POST", lambda q, b: self.predict(q, b)),
        }
        if len(parts) == 2 and parts[0] == "runs" and parts[1] in runs:
            routes[tuple(parts)] = ("GET", lambda q, b: self.run(parts[1]))
        if len(parts) == 2 and parts[0] == "network" and parts[1] in models:
            routes[tuple(parts)] = ("GET", lambda q, b: self.network(models[parts[1]]))
        if len(parts) == 2 and parts[0] == "testset" and parts[1].isdigit():
            routes[tuple(parts)] = ("GET", lambda q, b: self.test_digit(int(parts[1]), q))
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
                entries.append(served.use(functools.partial(_model_entry, name, served)))
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
        top, chosen = self._answer_params(query)
        try:
            check_image(body, UPLOAD, self.max_pixels)
            digit = digit_from_file(body, UPLOAD, self.max_pixels)
        except ImageError as exc:
            raise ApiError(400, str(exc)) from None
        return self._answer(digit, top, chosen)

    def test_digit(self, index: int, query: str) -> dict:
        """Test digit ``index`` as it is (no framing: the very digit the evaluation scored),
        answered as :meth:`predict` answers, with ``test``: its index and label."""
        top, chosen = self._answer_params(query)
        try:
            digits, labels = self.test_set.arrays()
        except (LookupError, DataError, OSError) as exc:
            raise ApiError(503, str(exc)) from None
        if index >= len(digits):
            raise ApiError(404, f"the test set has {len(digits):,} digits: give 0 to "
                                f"{len(digits) - 1}")
        return {**self._answer(digits[index], top, chosen),
                "test": {"index": index, "label": int(labels[index])}}

    def network(self, served: ServedModel) -> dict:
        try:
            return served.network()
        except (NotReady, CheckpointError) as exc:
            raise ApiError(503, str(exc)) from None

    def _answer_params(self, query: str) -> tuple[int, str]:
        """(top, the model whose layers are shown) from a query string."""
        params = _params(query)
        top = _int_param(params, "top", 3, 1, NUM_CLASSES)
        models = self.catalogue.models
        chosen = params.get("layers", next(iter(models)))
        if chosen not in models:
            raise ApiError(404, f"layers={chosen}: no model of that name is served "
                                f"({', '.join(models)})")
        return top, chosen

    def _answer(self, digit, top: int, chosen: str) -> dict:
        """A (28, 28) uint8 digit classified by every model, with every stage of model
        ``chosen``, and the ``doubt`` (None, or why the ink may not be one digit)."""
        predictions, layers = [], stages_json(chosen, None, [])
        for name, served in self.catalogue.models.items():
            def look(model, name=name, served=served):
                if name != chosen:
                    return prediction_json(name, model, model.outputs(model.prepare(digit)), top), None
                values, outputs = activations(model, digit)
                return (prediction_json(name, model, outputs, top),
                        stages_json(name, served.version, values))
            try:
                prediction, stages = served.use(look)
            except (NotReady, CheckpointError) as exc:
                prediction, stages = {"model": name, "error": str(exc)}, None
            predictions.append(prediction)
            layers = stages or layers
        return {"digit": image_json(digit), "doubt": doubt(digit), "predictions": predictions,
                "layers": layers}

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


def _model_entry(name: str, served: ServedModel, model: TrainedModel) -> dict:
    """``/api/models``' entry of a served model, with the version of its weights read while
    :meth:`ServedModel.use` holds the newest."""
    return model_json(name, model, served.version)


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
