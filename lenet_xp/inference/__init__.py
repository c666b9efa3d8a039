"""Trained models at work: loaded from their files (:mod:`~lenet_xp.inference.trained`:
:func:`load_model`, :class:`TrainedModel`, :class:`Committee`), classifying digits, and
measured on labelled ones (:mod:`~lenet_xp.inference.evaluation`), all through one evaluation
loop (:mod:`~lenet_xp.inference.loop`) that training's validation uses too.

Above the run files (a model comes from a ``model.npz`` or ``checkpoint.npz``) and below
training, the tools and the interfaces (``scripts/evaluate.py``, ``scripts/predict.py``, the
web app), which build on it.

    >>> from lenet_xp.inference import load_model
    >>> load_model("runs/lenet5/model.npz").predict_files(["my_seven.png"])[0].top
"""

from .evaluation import Evaluation, evaluate_digits
from .trained import Committee, Predictions, TrainedModel, load_model

__all__ = ["Committee", "Evaluation", "Predictions", "TrainedModel", "evaluate_digits",
           "load_model"]
