"""A trained model measured on a labelled test set: accuracy, per-class accuracy, the
confusion matrix, the most-confused pairs, and the figures that show them.

The accuracy and loss are computed as the training loop's :func:`lenet_xp.training.loop.evaluate`
computes them (batches of 1000, the same summation), so ``scripts/evaluate.py`` prints the
very figure the training run printed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..backend import to_numpy
from ..layers import Conv2d, EuclideanRBF, Parameter

NUM_CLASSES = 10


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Results on N labelled images: ``labels`` and ``predicted`` (N,) classes,
    ``confidence`` (N,) the score of the predicted class, ``loss`` the mean test loss."""

    labels: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray
    loss: float

    @property
    def count(self) -> int:
        return int(self.labels.shape[0])

    @property
    def accuracy(self) -> float:
        return int(np.sum(self.predicted == self.labels)) / self.count

    @property
    def confusion(self) -> np.ndarray:
        """(K, K) int64 counts: row = true class, column = predicted class."""
        pairs = self.labels * NUM_CLASSES + self.predicted
        return np.bincount(pairs, minlength=NUM_CLASSES ** 2).reshape(NUM_CLASSES, NUM_CLASSES)

    @property
    def per_class_accuracy(self) -> np.ndarray:
        """(K,) the fraction of each true class classified right (NaN for an absent class)."""
        confusion = self.confusion
        totals = confusion.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diagonal(confusion) / totals

    @property
    def misclassified(self) -> np.ndarray:
        """Indices of the wrongly classified images, in test-set order."""
        return np.flatnonzero(self.predicted != self.labels)

    def most_confused(self, n: int = 5) -> list[tuple[int, int, int]]:
        """Up to ``n`` (true, predicted, count) of the most frequent errors, most first."""
        errors = self.confusion.copy()
        np.fill_diagonal(errors, 0)
        order = np.argsort(-errors, axis=None, kind="stable")[:n]
        return [(int(i // NUM_CLASSES), int(i % NUM_CLASSES), int(errors.flat[i]))
                for i in order if errors.flat[i] > 0]

    def to_dict(self) -> dict:
        """The figures as JSON-able values (accuracies as fractions)."""
        per_class = [None if np.isnan(a) else float(a) for a in self.per_class_accuracy]
        return {"test_accuracy": self.accuracy, "test_error": 1.0 - self.accuracy,
                "test_loss": self.loss, "count": self.count,
                "errors": int(self.misclassified.shape[0]),
                "per_class_accuracy": per_class, "confusion": self.confusion.tolist(),
                "most_confused": [{"true": t, "predicted": p, "count": c}
                                  for t, p, c in self.most_confused()]}


def evaluate_model(model, images, labels) -> Evaluation:
    """Classify ``images`` (N, 1, S, S, on the model's device, as ``model.prepare`` makes
    them) with a :class:`lenet_xp.tools.inference.TrainedModel` and compare with ``labels`` (N,)
    int64 on the same device; results come back to the host once."""
    xp, n = model.backend.xp, images.shape[0]
    total_loss, predicted, confidence = 0.0, [], []
    for start in range(0, n, model.batch_size):
        stop = min(start + model.batch_size, n)
        outputs = model.network.forward(images[start:stop, ...])
        total_loss = total_loss + model.loss.forward(outputs, labels[start:stop]) * (stop - start)
        predicted.append(model.loss.predict(outputs))
        scores = model.loss.scores(outputs)
        confidence.append(xp.max(scores, axis=1))
    return Evaluation(labels=to_numpy(labels).astype(np.int64),
                      predicted=to_numpy(xp.concat(predicted)).astype(np.int64),
                      confidence=to_numpy(xp.concat(confidence)).astype(np.float64),
                      loss=float(total_loss) / n)


def evaluate_digits(model, digits: np.ndarray, labels: np.ndarray) -> Evaluation:
    """:func:`evaluate_model` on raw uint8 digits (N, 28, 28) and labels (N,) on the host:
    prepared as the model's training images were, and moved to its device."""
    return evaluate_model(model, model.prepare(digits),
                          model.backend.asarray(labels, dtype=model.backend.xp.int64))


def report(model, evaluation: Evaluation, source: str = "") -> str:
    """The evaluation as text a person reads: what the model is, the test accuracy, a table
    of per-class accuracy, the confusion matrix and the most-confused pairs."""
    meta = model.meta
    recipe = meta.get("recipe", {})
    lines = [f"model: {model.name}, {model.spec.description}",
             f"{model.num_parameters():,} parameters, trained {meta.get('epoch', '?')} epochs "
             f"({recipe.get('optimizer', '?')}, lr {recipe.get('lr', '?')}, batch "
             f"{recipe.get('batch_size', '?')}, seed {meta.get('config', {}).get('seed', '?')}), "
             f"written {meta.get('written', '?')}"]
    errors = evaluation.misclassified.shape[0]
    reported = meta.get("test_accuracy")
    lines.append(f"test accuracy {100 * evaluation.accuracy:.2f}% (error "
                 f"{100 * (1 - evaluation.accuracy):.2f}%: {errors:,} of {evaluation.count:,} "
                 f"wrong), loss {evaluation.loss:.4f}" + (f" on {source}" if source else "")
                 + (f"; the training run reported {100 * reported:.2f}%" if reported is not None
                    else ""))
    digits = range(NUM_CLASSES)
    lines += ["", "per-class accuracy (%):",
              "  digit " + "".join(f"{d:>7}" for d in digits),
              "  acc   " + "".join(f"{100 * a:7.2f}" for a in evaluation.per_class_accuracy),
              "", "confusion matrix (rows: true digit, columns: predicted digit):",
              "      " + "".join(f"{d:>6}" for d in digits)]
    lines += [f"  {t:>2}  " + "".join(f"{c:>6}" for c in row)
              for t, row in enumerate(evaluation.confusion)]
    pairs = ", ".join(f"{t}→{p}: {c}" for t, p, c in evaluation.most_confused())
    lines += ["", f"most-confused pairs (true→predicted: count): {pairs or 'none'}"]
    return "\n".join(lines)


def write_figures(model, evaluation: Evaluation, digits: np.ndarray, folder) -> list[Path]:
    """The evaluation's figures in ``folder``: ``confusion.png``, ``misclassified.png`` (the
    wrong digits of ``digits`` (N, 28, 28), the raw test images), ``filters.png`` (the first
    convolution's kernels), ``feature_maps.png`` (what each layer makes of the first test
    digit) and, for the RBF models, ``rbf_bitmaps.png`` (their prototypes). Needs matplotlib."""
    from . import plots

    folder = Path(folder)
    name = model.name
    wrong = evaluation.misclassified
    paths = [
        plots.plot_confusion(evaluation.confusion, folder / "confusion.png",
                             title=f"{name}: confusion matrix of {evaluation.count:,} test digits"),
        plots.plot_misclassified(digits[wrong], evaluation.labels[wrong],
                                 evaluation.predicted[wrong], evaluation.confidence[wrong],
                                 folder / "misclassified.png",
                                 title=f"{name}: misclassified test digits"),
    ]
    layers = dict(zip(model.network.names, model.network.layers))
    convolutions = [(n, layer) for n, layer in layers.items() if isinstance(layer, Conv2d)]
    if convolutions:
        first, layer = convolutions[0]
        paths.append(plots.plot_filters(to_numpy(layer.weight.data), folder / "filters.png",
                                        title=f"{name}: the {first} filters"))
    paths.append(plots.plot_feature_maps(
        digits[0], model.feature_maps(digits[0]), folder / "feature_maps.png",
        title=f"{name}: feature maps of test digit 0 (a {evaluation.labels[0]}), after each "
              "layer's activation"))
    rbf = [layer for layer in layers.values() if isinstance(layer, EuclideanRBF)]
    if rbf:
        prototypes = rbf[0].prototypes
        prototypes = prototypes.data if isinstance(prototypes, Parameter) else prototypes
        paths.append(plots.plot_digit_bitmaps(to_numpy(prototypes),
                                              folder / "rbf_bitmaps.png",
                                              title=f"{name}: the RBF output's fixed prototypes"))
    return paths
