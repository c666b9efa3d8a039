"""The model zoo: build any registered model by name."""

from . import lenet5
from . import deep_cnn, lenet5_paper, lenet_theano
from . import distorted
from . import bn_cnn, lenet1, lenet4, simard_cnn
from .registry import MODELS, ModelSpec, get_model, register

__all__ = ["MODELS", "ModelSpec", "get_model", "lenet5", "register"]
