"""The figures of an evaluation (:class:`lenet_xp.inference.evaluation.Evaluation`): what
``scripts/evaluate.py --plots DIR`` draws."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..backend import to_numpy
from ..inference import Committee
from ..inference.evaluation import Evaluation
from ..layers import Conv2d, EuclideanRBF, Parameter


def write_figures(model, evaluation: Evaluation, digits: np.ndarray, folder) -> list[Path]:
    """The evaluation's figures in ``folder``: ``confusion.png``, ``misclassified.png`` (the
    wrong digits of ``digits`` (N, 28, 28), the raw test images), ``filters.png`` (the first
    convolution's kernels), ``feature_maps.png`` (what each layer makes of the first test
    digit) and, for the RBF models, ``rbf_bitmaps.png`` (their prototypes); for a
    :class:`~lenet_xp.inference.trained.Committee` the first two. Needs matplotlib."""
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
    if isinstance(model, Committee):
        return paths
    layers = dict(zip(model.network.names, model.network.layers, strict=True))
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
