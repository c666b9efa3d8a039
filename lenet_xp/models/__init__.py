"""The model zoo: build any registered model by name. Each model's module registers its entries
as it is imported, and its docstring gives the source, the layers and every guess."""

from . import (
    bn_cnn,
    deep_cnn,
    distorted,
    lenet1,
    lenet4,
    lenet5,
    lenet5_paper,
    lenet_theano,
    simard_cnn,
)
from .registry import MODELS, ModelSpec, get_model, register

__all__ = ["MODELS", "ModelSpec", "bn_cnn", "deep_cnn", "distorted", "get_model", "lenet1",
           "lenet4", "lenet5", "lenet5_paper", "lenet_theano", "register", "simard_cnn"]
