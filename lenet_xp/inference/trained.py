"""A trained model ready to use: load it, prepare digits as its training data was prepared,
classify them; or several, as a committee that averages their scores.

    >>> import lenet_xp
    >>> model = lenet_xp.load_model("runs/lenet5/model.npz")
    >>> model.predict_files(["my_seven.png"])[0].top
    [(7, 0.9981), (1, 0.0012), (2, 0.0004)]
    >>> committee = lenet_xp.load_model(["runs/a/model.npz", "runs/b/model.npz"])

:meth:`TrainedModel.predict` takes raw uint8 digits (N, 28, 28), ink 255 on black 0 as in
MNIST; :meth:`TrainedModel.predict_files` takes image files of any size and colour and first
makes each one such a digit (:func:`lenet_xp.data.images.mnist_digit`). The model's own
padding and normalisation (recorded in the checkpoint) are applied on top. A
:class:`Committee` takes the same raw digits and files; each member prepares them its own way.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable

import numpy as np

from ..backend import get_backend, to_numpy
from ..backends.base import Array
from ..data import PixelStats, model_input
from ..data.images import MAX_PIXELS, ImageError, digit_from_file
from ..layers import AvgPool2d, Conv2d, EuclideanRBF, Linear, MaxPool2d, Subsample2d
from ..models import get_model
from ..runs.checkpoint import CheckpointError, load_checkpoint
from .loop import EVAL_BATCH, score

#: layers whose output starts a new stage of :meth:`TrainedModel.layer_outputs` (the
#: activations and dropout after one join its stage)
STAGE_LAYERS = (Conv2d, MaxPool2d, AvgPool2d, Subsample2d, Linear, EuclideanRBF)


@dataclasses.dataclass(frozen=True)
class Predictions:
    """Classes and scores of N digits: ``labels`` (N,) int64, ``scores`` (N, K) float64."""

    labels: np.ndarray
    scores: np.ndarray

    def top(self, k: int = 3) -> list[list[tuple[int, float]]]:
        """Per digit, the k best (class, score) pairs, best first."""
        order = np.argsort(-self.scores, axis=1, kind="stable")[:, :k]
        return [[(int(c), float(row[c])) for c in best] for row, best in zip(self.scores, order, strict=True)]

    @classmethod
    def mean(cls, parts: list[Predictions]) -> Predictions:
        """A committee's predictions: the mean of the parts' scores, and its best class (the
        first on ties)."""
        scores = np.mean(np.stack([part.scores for part in parts]), axis=0)
        return cls(labels=np.argmax(scores, axis=1).astype(np.int64), scores=scores)


@dataclasses.dataclass(frozen=True)
class FilePrediction:
    """One image file's result: ``top`` (class, score) pairs and ``digit``, the (28, 28)
    uint8 digit the network saw; or ``error``, why the file could not be classified."""

    file: str
    top: list[tuple[int, float]] | None = None
    digit: np.ndarray | None = None
    error: str | None = None


class DigitClassifier:
    """What classifies digits: :meth:`predict` on raw digits, and on image files the
    :meth:`predict_files` built on it."""

    def predict(self, digits) -> Predictions:
        raise NotImplementedError

    def predict_files(self, sources: Iterable, top: int = 3,
                      max_pixels: int = MAX_PIXELS) -> list[FilePrediction]:
        """Classify image files (paths, or ``(name, bytes)`` pairs): each becomes an MNIST-style
        digit, then all are classified at once. A file that cannot be read, holds no ink, or
        has more than ``max_pixels`` pixels (refused before it is decoded) gets its ``error``
        and the others are still classified."""
        results, digits = [], []
        for source in sources:
            name, data = source if isinstance(source, tuple) else (os.fspath(source), source)
            try:
                digits.append(digit_from_file(data, name, max_pixels))
                results.append(FilePrediction(file=name, digit=digits[-1]))
            except ImageError as exc:
                results.append(FilePrediction(file=name, error=str(exc)))
        if digits:
            best = iter(self.predict(np.stack(digits)).top(top))
            results = [dataclasses.replace(result, top=next(best)) if result.error is None
                       else result for result in results]
        return results


class TrainedModel(DigitClassifier):
    """A network with the weights of a checkpoint, in evaluation mode, on one backend.

    Attributes:
        name: the zoo model (``lenet5``, ``lenet5_paper``, ...).
        network: the :class:`lenet_xp.layers.Sequential`.
        loss: its loss, whose ``predict`` and ``scores`` classify.
        meta: everything the checkpoint records (recipe, data settings, epochs, metrics).
        score_name: what the scores are, in words (a probability; the MAP posterior for the
            paper's RBF output).
    """

    def __init__(self, spec, network, backend, meta: dict, dtype: str,
                 batch_size: int = EVAL_BATCH):
        self.spec, self.name, self.network = spec, spec.name, network.eval()
        self.loss = spec.loss()
        self.backend, self.meta, self.dtype, self.batch_size = backend, meta, dtype, batch_size
        self.score_name = type(self.loss).SCORE
        data = meta["data"]
        stats = data.get("pixel_stats")
        self._prepare = {"normalisation": data["normalisation"],
                         "pad_to": data["input_size"] if data["input_size"] != 28 else None,
                         "stats": PixelStats(**stats) if stats else None, "dtype": dtype}

    def num_parameters(self) -> int:
        return self.network.num_parameters()

    @property
    def classes(self) -> int:
        """K, the classes it scores (:attr:`lenet_xp.models.registry.ModelSpec.classes`)."""
        return self.spec.classes

    def prepare(self, digits) -> Array:
        """uint8 digits (N, 28, 28) or one (28, 28) -> the network's input (N, 1, S, S) on
        its device: padded and normalised as in training."""
        digits = np.asarray(digits)
        if digits.ndim == 2:
            digits = digits[np.newaxis]
        if digits.dtype != np.uint8 or digits.ndim != 3 or digits.shape[1:] != (28, 28):
            raise ValueError(f"expected uint8 digits of shape (N, 28, 28) or (28, 28), got "
                             f"{digits.dtype} {digits.shape}")
        host = model_input(digits, **self._prepare)[:, np.newaxis]
        return self.backend.asarray(host, dtype=self.backend.dtype(self.dtype))

    def outputs(self, x):
        """The network's outputs (N, K) for inputs x (N, 1, S, S) on its device, in batches
        (:func:`lenet_xp.inference.loop.score`)."""
        return score(self.network, self.loss, x, batch_size=self.batch_size).outputs

    def predict(self, digits) -> Predictions:
        """Classify raw uint8 digits (N, 28, 28) (ink 255 on black 0, as MNIST)."""
        return self.predictions(self.outputs(self.prepare(digits)))

    def predictions(self, outputs) -> Predictions:
        """The labels and scores (on the host) of the network's outputs (N, K)."""
        return Predictions(labels=to_numpy(self.loss.predict(outputs)).astype(np.int64),
                           scores=to_numpy(self.loss.scores(outputs)).astype(np.float64))

    def layer_outputs(self, digit) -> list[tuple[str, np.ndarray]]:
        """What every stage of the network makes of one uint8 (28, 28) digit:
        ``[(layer name, host array), ...]``, one entry per convolution, pooling, dense
        (Linear) and RBF layer, holding its output after the shape-keeping layers that follow
        it (activations, dropout): (C, h, w) maps, or (F,) for a dense or RBF layer. Layers
        that only reshape (Flatten) have no entry of their own."""
        x = self.prepare(digit)
        stages: list[list] = []
        for name, layer in zip(self.network.names, self.network.layers, strict=True):
            y = layer.forward(x)
            if isinstance(layer, STAGE_LAYERS):
                stages.append([name, y])
            elif stages and y.shape == x.shape:
                stages[-1][1] = y
            x = y
        return [(name, to_numpy(y[0, ...])) for name, y in stages]

    def feature_maps(self, digit) -> list[tuple[str, np.ndarray]]:
        """What each convolution and pooling layer makes of one uint8 (28, 28) digit, after
        the activations that follow it: ``[(layer name, (C, h, w) host array), ...]`` down to
        the last maps larger than 1x1."""
        maps = []
        for name, y in self.layer_outputs(digit):
            if y.ndim != 3 or y.shape[1] * y.shape[2] == 1:
                break
            maps.append((name, y))
        return maps


class Committee(DigitClassifier):
    """Trained models that classify together, as the committees of Cireșan et al. (2012):
    each member prepares a raw digit as its own training images were (input size,
    normalisation) and scores it; the committee's score of class c is the mean

        s_c(x) = (1/M) Σ_m s_m,c(x),        label = argmax_c s_c(x)  (the first on ties)

    The members' scores must be of one kind (the losses' ``SCORE_KIND``): probabilities (every
    softmax model, lenet5_sigmoid's softmax of −y too), or the MAP criterion's posteriors (the
    paper's RBF models), whose rows keep back the mass of "none of these". A mean of the two
    would let the probabilities outvote a posterior that holds mass back, so a committee that
    mixes them is refused (ValueError).

    Attributes:
        members: the :class:`TrainedModel` s, in the order given.
        name: ``"committee"``.
        score_name: what the scores are, in words.
    """

    name = "committee"

    def __init__(self, members: list[TrainedModel]):
        members = list(members)
        if not members:
            raise ValueError("a committee needs at least one model")
        if len({type(member.loss).SCORE_KIND for member in members}) > 1:
            given = ", ".join(f"{member.name}: {type(member.loss).SCORE_KIND}" for member in members)
            raise ValueError(f"a committee averages one kind of score, and these models give two "
                             f"({given}): make a committee of probability models or of "
                             "map_posterior (RBF) models")
        self.members = members
        self.score_name = f"mean of {len(members)} members' {members[0].score_name}"

    def num_parameters(self) -> int:
        return sum(member.num_parameters() for member in self.members)

    @property
    def classes(self) -> int:
        """K, the classes its members score."""
        return self.members[0].classes

    def predict(self, digits) -> Predictions:
        """Classify raw uint8 digits (N, 28, 28): the mean of the members' scores."""
        return Predictions.mean([member.predict(digits) for member in self.members])


def load_model(path, device: str = "cpu", batch_size: int = EVAL_BATCH):
    """The trained model of a ``model.npz`` (or ``checkpoint.npz``) on ``device``; given a
    list (or tuple) of paths, the :class:`Committee` of their models.

    Raises:
        CheckpointError: missing, damaged or foreign file, an unknown model, or weights
            that do not fit it or are not finite (see :func:`~lenet_xp.runs.checkpoint.load_checkpoint`).
        DeviceError: ``device`` is not usable here.
        ValueError: a committee of no models, or of models whose scores are of two kinds.
    """
    if isinstance(path, (list, tuple)):
        return Committee([load_model(one, device, batch_size) for one in path])
    checkpoint = load_checkpoint(path)  # its entries (a zoo model's: all) and weights checked
    meta = checkpoint.meta
    name = meta.get("model")
    if name is None:
        raise CheckpointError(f"{path} does not name its model: it was not written by "
                              "scripts/train.py")
    if "data" not in meta:
        raise CheckpointError(f"{path} does not record how its training images were prepared "
                              "(no 'data' entry): it was not written by scripts/train.py")
    backend = get_backend(device)
    dtype = meta.get("config", {}).get("dtype", "float32")
    backend.dtype(dtype)  # DeviceError where the device lacks it (float64 on Apple's GPUs)
    backend.use()
    spec = get_model(name)
    network = spec.skeleton(dtype).to(backend)  # its weights are the checkpoint's
    try:
        network.load_state_dict(checkpoint.params)
    except (KeyError, ValueError) as exc:
        raise CheckpointError(f"{path} does not fit the {name} model: {exc}") from exc
    return TrainedModel(spec, network, backend, meta, dtype, batch_size)
