"""The LeNet of the Theano deep-learning tutorial ("Convolutional Neural Networks (LeNet)",
deeplearning.net, ``convolutional_mlp.py``), on raw 28×28 MNIST scaled to [0, 1].

    input (N, 1, 28, 28)
    conv 20@5×5  -> (N, 20, 24, 24) -> max-pool 2×2 -> (N, 20, 12, 12) -> tanh       520
    conv 50@5×5  -> (N, 50, 8, 8)   -> max-pool 2×2 -> (N, 50, 4, 4)   -> tanh    25,050
    flatten 800 -> linear 500 -> tanh                                             400,500
    linear 10 (logistic regression) -> softmax cross-entropy                        5,010
                                                                          total   431,080

As in the tutorial, the bias is added after pooling (max-pooling commutes with adding a
per-map constant, so the conv's own bias is the same thing) and tanh comes last. Weights are
uniform in ±√(6/(F_in + F_out)) with F_out of a conv = maps·5·5/4 (the tutorial divides
by the pooling area); the logistic-regression layer starts at zero, biases at zero.

The tutorial trains with SGD (η = 0.1, batches of 500, up to 200 epochs) and early stopping
by patience on the validation error; it reports 0.91 % validation and 0.92 % test error.
"""

from __future__ import annotations

from .. import init as initializers
from ..backend import Random
from ..layers import Conv2d, Flatten, Linear, MaxPool2d, Sequential, Tanh
from ..losses import SoftmaxCrossEntropy
from .recipe import Recipe
from .registry import ModelSpec, register


def _tutorial_uniform(pool_area: int):
    """The tutorial's U(±√(6/(F_in + F_out / pool_area)))."""
    def draw(random, shape, fan_in, fan_out, dtype="float32"):
        return initializers.xavier_uniform(random, shape, fan_in, fan_out // pool_area, dtype)
    return draw


def _zeros(random, shape, fan_in, fan_out, dtype="float32"):
    return initializers.zeros(shape, dtype)


def build_lenet_theano(random: Random, dtype: str = "float32") -> Sequential:
    """The network of the module's table, its weights drawn from ``random`` as the tutorial
    draws them."""
    conv_init = _tutorial_uniform(pool_area=4)
    return Sequential(
        ("conv1", Conv2d(1, 20, 5, init=conv_init, random=random, dtype=dtype)),
        ("pool1", MaxPool2d(2)), ("tanh1", Tanh()),
        ("conv2", Conv2d(20, 50, 5, init=conv_init, random=random, dtype=dtype)),
        ("pool2", MaxPool2d(2)), ("tanh2", Tanh()),
        ("flatten", Flatten()),
        ("hidden", Linear(800, 500, init="xavier_uniform", random=random, dtype=dtype)),
        ("tanh3", Tanh()),
        ("logistic", Linear(500, 10, init=_zeros, random=random, dtype=dtype)),
    )


LENET_THEANO = register(ModelSpec(
    name="lenet_theano",
    build=build_lenet_theano,
    loss=SoftmaxCrossEntropy,
    input_size=28,
    normalisation="zero_one",
    # the tutorial's SGD at η = 0.1, on batches of 50 instead of 500 (10x the updates per
    # epoch: 0.96 % test error after 12 epochs, where batches of 500 need ~200); early stopping
    # after 6 epochs without a better validation error restores the best epoch's weights
    recipe=Recipe(epochs=30, batch_size=50, optimizer="sgd", lr=0.1, schedule="constant",
                  patience=6),
    description="the Theano tutorial's LeNet: conv 20 -> pool -> tanh, conv 50 -> pool -> tanh, "
                "500 tanh, softmax; SGD with early stopping (431,080 parameters)",
))
