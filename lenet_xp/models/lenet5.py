"""The modern LeNet-5: ReLU, max-pooling and a softmax output on 32×32 inputs.

    input (N, 1, 32, 32)
    C1  conv 6@5×5    -> (N, 6, 28, 28) -> S2 max-pool 2×2 -> (N, 6, 14, 14) -> ReLU
    C3  conv 16@5×5   -> (N, 16, 10, 10) -> S4 max-pool 2×2 -> (N, 16, 5, 5) -> ReLU
    C5  conv 120@5×5  -> (N, 120, 1, 1) -> ReLU -> flatten -> (N, 120)
    F6  linear 84     -> ReLU
    OUT linear 10     -> logits, softmax cross-entropy

61,706 parameters. Weights start Glorot-uniform (``xavier_uniform``), biases at 0: the
initialiser that did best with the default recipe (docs/results.md, "How the default recipe
was chosen").

ReLU runs after each max-pool, not before: max and ReLU commute (max_k relu(a_k) =
relu(max_k a_k), as relu is non-decreasing), and after pooling the ReLU touches a quarter of
the values. The gradients agree as well: both orders pass dy to the window's first maximum
when that maximum is positive and nothing otherwise (tested against the textbook order).
"""

from __future__ import annotations

from ..backend import Random
from ..layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential
from ..layers.base import Drawn
from ..losses import SoftmaxCrossEntropy
from .recipe import Recipe
from .registry import ModelSpec, register


def build_lenet5(random: Random, dtype: str = "float32", init: str = "xavier_uniform") -> Sequential:
    """The network of the module's table, its weights drawn from ``random`` with ``init``."""
    drawn: Drawn = {"init": init, "random": random, "dtype": dtype}
    return Sequential(
        ("C1", Conv2d(1, 6, 5, **drawn)),
        ("S2", MaxPool2d(2)), ("A2", ReLU()),
        ("C3", Conv2d(6, 16, 5, **drawn)),
        ("S4", MaxPool2d(2)), ("A4", ReLU()),
        ("C5", Conv2d(16, 120, 5, **drawn)), ("A5", ReLU()),
        ("flatten", Flatten()),
        ("F6", Linear(120, 84, **drawn)), ("A6", ReLU()),
        ("OUT", Linear(84, 10, **drawn)),
    )


LENET5 = register(ModelSpec(
    name="lenet5",
    build=build_lenet5,
    loss=SoftmaxCrossEntropy,
    input_size=32,
    normalisation="standard",
    recipe=Recipe(epochs=10, batch_size=64, optimizer="adam", lr=2e-3,
                  schedule="exponential", gamma=0.75, shift=1),
    description="modern LeNet-5: ReLU, max-pooling, softmax (61,706 parameters)",
))
