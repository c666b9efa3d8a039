"""The model zoo: build any registered model by name."""

from . import lenet5
from .registry import MODELS, ModelSpec, get_model, register

__all__ = ["MODELS", "ModelSpec", "get_model", "lenet5", "register"]
