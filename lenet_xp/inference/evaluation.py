"""A trained model (or a committee of them) measured on labelled digits: accuracy, per-class
accuracy, the confusion matrix, the most-confused pairs, and the report that prints them.

The accuracy and loss come from the evaluation loop that training's validation and test use
(:func:`lenet_xp.inference.loop.score`: batches of 1000, the same summation), so
``scripts/evaluate.py`` prints the very figure the training run printed. A committee's
evaluation holds each member's and the one of the mean of their scores. The figures that
show an evaluation are drawn by :mod:`lenet_xp.tools.evaluation_figures`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..backend import to_numpy
from ..data import validation_split
from .loop import score
from .trained import Committee, Predictions

NUM_CLASSES = 10


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Results on N labelled images: ``labels`` and ``predicted`` (N,) classes,
    ``confidence`` (N,) the score of the predicted class, ``loss`` the mean test loss,
    ``scores`` (N, K) every class's score (a committee averages them), and for a committee
    its ``members``' evaluations, in its order."""

    labels: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray
    loss: float
    scores: np.ndarray | None = dataclasses.field(default=None, repr=False)
    members: tuple[Evaluation, ...] = dataclasses.field(default=(), repr=False)

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

    def to_dict(self, split: str = "test") -> dict:
        """The figures as JSON-able values (accuracies as fractions), named after the
        ``split`` they were measured on (``test_accuracy``, ``validation_accuracy``, ...)."""
        per_class = [None if np.isnan(a) else float(a) for a in self.per_class_accuracy]
        return {f"{split}_accuracy": self.accuracy, f"{split}_error": 1.0 - self.accuracy,
                f"{split}_loss": self.loss, "count": self.count,
                "errors": int(self.misclassified.shape[0]),
                "per_class_accuracy": per_class, "confusion": self.confusion.tolist(),
                "most_confused": [{"true": t, "predicted": p, "count": c}
                                  for t, p, c in self.most_confused()]}


def evaluate_digits(model, digits: np.ndarray, labels: np.ndarray) -> Evaluation:
    """The :class:`Evaluation` of a :class:`~lenet_xp.inference.trained.TrainedModel` or a
    :class:`~lenet_xp.inference.trained.Committee` on raw uint8 digits (N, 28, 28) and labels
    (N,) on the host: each model prepares them as its training images were, scores them on
    its device (:func:`~lenet_xp.inference.loop.score`), and its results come back to the host
    once. A committee's are the mean of its members' scores s (N, K), its best class (the
    first on ties), and as its loss the mean −log s of the true class."""
    if isinstance(model, Committee):
        return _committee(tuple(evaluate_digits(member, digits, labels)
                                for member in model.members))
    backend = model.backend
    scored = score(model.network, model.loss, model.prepare(digits),
                   backend.asarray(labels, dtype=backend.xp.int64), model.batch_size)
    scores = to_numpy(model.loss.scores(scored.outputs)).astype(np.float64)
    return Evaluation(labels=np.asarray(labels).astype(np.int64),
                      predicted=to_numpy(model.loss.predict(scored.outputs)).astype(np.int64),
                      confidence=np.max(scores, axis=1),
                      loss=float(scored.loss_sum) / labels.shape[0], scores=scores)


def _committee(members: tuple[Evaluation, ...]) -> Evaluation:
    predictions = []
    for member in members:
        if member.scores is None:
            raise ValueError("a committee averages its members' scores, and a member has none")
        predictions.append(Predictions(member.predicted, member.scores))
    mean = Predictions.mean(predictions)
    truth = members[0].labels
    true_scores = np.maximum(mean.scores[np.arange(truth.shape[0]), truth],
                             np.finfo(np.float64).tiny)
    return Evaluation(labels=truth, predicted=mean.labels, confidence=np.max(mean.scores, axis=1),
                      loss=float(np.mean(-np.log(true_scores))), scores=mean.scores,
                      members=members)


def validation_digits(models: list, splits) -> tuple[np.ndarray, np.ndarray]:
    """The raw digits (N, 28, 28) and labels (N,) that the training runs of ``models``
    (:class:`~lenet_xp.inference.TrainedModel` s) held out for validation, taken from
    ``splits`` (:class:`~lenet_xp.data.MnistSplits`) as their runs took them (the seed and
    ``val_size`` their checkpoints record). Raises ValueError where a run held out nothing,
    or where the runs held out different images (a committee of seeds: each member has
    trained on the others' validation images)."""
    held = {(model.meta.get("config", {}).get("seed"), model.meta.get("config", {}).get("val_size"))
            for model in models}
    if len(held) > 1:
        raise ValueError("these models' runs held out different validation images (seed, "
                         f"val_size: {', '.join(map(str, sorted(held)))}), so none is unseen by "
                         "all of them: evaluate them on the validation split one by one")
    seed, val_size = held.pop()
    if seed is None or not val_size:
        raise ValueError("the run held out no validation images (val_size 0, or its checkpoint "
                         "does not record its seed and val_size): use the test split")
    _, val_idx = validation_split(splits.train_labels.shape[0], val_size, seed)
    return splits.train_images[val_idx], splits.train_labels[val_idx]


def report(model, evaluation: Evaluation, source: str = "", split: str = "test") -> str:
    """The evaluation as text a person reads: what the model is, its accuracy on the
    ``split`` (test or validation), a table of per-class accuracy, the confusion matrix and
    the most-confused pairs."""
    meta = model.meta
    lines = [f"model: {model.name}, {model.spec.description}",
             (f"{model.num_parameters():,} parameters, {_trained(meta)}, "
              f"written {meta.get('written', '?')}")]
    reported = meta.get("test_accuracy") if split == "test" else None
    lines.append(_accuracy_line(evaluation, source, split)
                 + (f"; the training run reported {100 * reported:.2f}%" if reported is not None
                    else ""))
    return "\n".join(lines + _details(evaluation))


def committee_report(committee, evaluation: Evaluation, paths: list[str], source: str = "",
                     split: str = "test") -> str:
    """:func:`report` for a committee: each member (its file, what it is, its error on the
    ``split``), then the committee's figures."""
    members = evaluation.members
    lines = [(f"committee of {len(committee.members)} models, "
              f"{committee.num_parameters():,} parameters in all; scores: {committee.score_name}")]
    for index, (model, result, path) in enumerate(zip(committee.members, members, paths, strict=True), 1):
        lines.append(f"  {index}. {path}: {model.name}, {_trained(model.meta)}: "
                     f"{split} error {100 * (1 - result.accuracy):.2f}% "
                     f"({result.misclassified.shape[0]:,} wrong)")
    errors = [1 - result.accuracy for result in members]
    lines.append(f"  members' {split} error: mean {100 * np.mean(errors):.2f}%, best "
                 f"{100 * min(errors):.2f}%, worst {100 * max(errors):.2f}%")
    lines.append("committee: " + _accuracy_line(evaluation, source, split))
    return "\n".join(lines + _details(evaluation))


def _trained(meta: dict) -> str:
    recipe = meta.get("recipe", {})
    return (f"trained {meta.get('epoch', '?')} epochs ({recipe.get('optimizer', '?')}, lr "
            f"{recipe.get('lr', '?')}, batch {recipe.get('batch_size', '?')}, seed "
            f"{meta.get('config', {}).get('seed', '?')})")


def _accuracy_line(evaluation: Evaluation, source: str, split: str) -> str:
    errors = evaluation.misclassified.shape[0]
    return (f"{split} accuracy {100 * evaluation.accuracy:.2f}% (error "
            f"{100 * (1 - evaluation.accuracy):.2f}%: {errors:,} of {evaluation.count:,} "
            f"wrong), loss {evaluation.loss:.4f}" + (f" on {source}" if source else ""))


def _details(evaluation: Evaluation) -> list[str]:
    """The per-class accuracy, the confusion matrix and the most-confused pairs, as lines."""
    digits = range(NUM_CLASSES)
    lines = ["", "per-class accuracy (%):",
             "  digit " + "".join(f"{d:>7}" for d in digits),
             "  acc   " + "".join(f"{100 * a:7.2f}" for a in evaluation.per_class_accuracy),
             "", "confusion matrix (rows: true digit, columns: predicted digit):",
             "      " + "".join(f"{d:>6}" for d in digits)]
    lines += [f"  {t:>2}  " + "".join(f"{c:>6}" for c in row)
              for t, row in enumerate(evaluation.confusion)]
    pairs = ", ".join(f"{t}→{p}: {c}" for t, p, c in evaluation.most_confused())
    return lines + ["", f"most-confused pairs (true→predicted: count): {pairs or 'none'}"]
