"""LeNet-1: the small convolutional network of LeCun et al. 1998 (section III.C.6, figure 9:
1.7 % test error), first published as LeCun, Boser, Denker et al., "Handwritten digit
recognition with a back-propagation network", NIPS 2 (1990).

    input (N, 1, 28, 28), "lecun" normalisation (background −0.1, ink 1.175)
    D0  fixed zoom ×0.8 about the centre  -> (N, 1, 28, 28): the 20×20 digit becomes 16×16
    H1  conv 4@5×5                        -> (N, 4, 24, 24)  -> f        104 parameters
    H2  trainable 2×2 subsampling         -> (N, 4, 12, 12)  -> f          8
    H3  conv 12@5×5, 20 of 48 links       -> (N, 12, 8, 8)   -> f        512
    H4  trainable 2×2 subsampling         -> (N, 12, 4, 4)   -> f         24
    OUT linear 10 (fully connected)       -> (N, 10) logits            1,930
                                                                total  2,578

f(a) = 1.7159 tanh(2a/3). What the sources fix: the 1998 paper says "the images were
down-sampled to 16×16 pixels and centered in the 28×28 input layer", that LeNet-1 has "about
2600" free parameters and needs "about 100,000 multiply/add steps"; the 1990 paper gives the
layers (4 maps of 24×24, 4 averaging maps of 12×12 each with one trainable coefficient and
bias, 12 maps of 8×8 whose units see one or two 5×5 neighbourhoods of H2, 12 averaging maps
of 4×4, 10 outputs fully connected) and the totals "4635 units, 98442 connections, and 2578
independent parameters", which this network matches exactly (tests/test_models_zoo.py counts
them). H3's connection table is :data:`H3_INPUTS`, the 1990 paper's table 1 as transcribed by
a reconstruction we could consult (two independent halves: H3 maps 0–5 read H2 maps 0 and 1,
maps 6–11 read maps 2 and 3); the scan itself was not at hand, but its count, 20 links, is
fixed by the 2,578 parameters.

The 16×16 digits: MNIST's are 20×20 in their 28×28 field, so D0 shrinks the whole field by
0.8 about its centre (area averaging, :class:`Zoom2d`); it is part of the network, so
``model.npz``, evaluation and prediction apply it with no extra data option.

Departures, stated: the paper's outputs were squashed units trained towards ±1 targets (mean
squared error) with its diagonal second-order method; here the 10 outputs are logits of a
softmax cross-entropy, trained with Adam. The recipe (20 epochs of batches of 32, no
distortions, as the paper; Adam 2e-3 × 0.9 per epoch, the moving average of the weights at
0.999) was chosen on the validation split (sweeps/lenet14_search.toml, docs/results.md).
"""

from __future__ import annotations

from ..backend import Random
from ..layers import (
    Conv2d,
    Flatten,
    Linear,
    ScaledTanh,
    Sequential,
    Subsample2d,
    Zoom2d,
    connection_table,
)
from ..layers.base import Drawn
from ..losses import SoftmaxCrossEntropy
from .recipe import Recipe
from .registry import ModelSpec, register

#: H2 maps (columns) read by each of H3's 12 maps (rows): table 1 of the 1990 paper.
H3_INPUTS = ((0,), (0, 1), (0, 1), (1,), (0, 1), (0, 1),
             (2,), (2, 3), (2, 3), (3,), (2, 3), (2, 3))
H3_TABLE = connection_table(H3_INPUTS, 4)

#: the 1998 paper's LeNet-1 sees digits down-sampled to 16×16 where MNIST's are 20×20
DIGIT_ZOOM = 16 / 20


def build_lenet1(random: Random, dtype: str = "float32", init: str = "lecun_uniform") -> Sequential:
    """The network of the module's table, its weights drawn from ``random`` with ``init``."""
    drawn: Drawn = {"init": init, "random": random, "dtype": dtype}
    return Sequential(
        ("D0", Zoom2d(28, DIGIT_ZOOM, dtype=dtype)),
        ("H1", Conv2d(1, 4, 5, **drawn)), ("A1", ScaledTanh()),
        ("H2", Subsample2d(4, 2, **drawn)), ("A2", ScaledTanh()),
        ("H3", Conv2d(4, 12, 5, connections=H3_TABLE, **drawn)), ("A3", ScaledTanh()),
        ("H4", Subsample2d(12, 2, **drawn)), ("A4", ScaledTanh()),
        ("flatten", Flatten()),
        ("OUT", Linear(12 * 4 * 4, 10, **drawn)),
    )


LENET1 = register(ModelSpec(
    name="lenet1",
    build=build_lenet1,
    loss=SoftmaxCrossEntropy,
    input_size=28,
    normalisation="lecun",
    # chosen on the validation split (sweeps/lenet14_search.toml, docs/results.md)
    recipe=Recipe(epochs=20, batch_size=32, optimizer="adam", lr=2e-3, schedule="exponential",
                  gamma=0.9, ema=0.999),
    description="LeNet-1 (LeCun et al. 1990/1998): 16x16 digits in a 28x28 field, conv 4, "
                "subsampling, conv 12 (1990 table), subsampling, 10 outputs; scaled tanh "
                "(2,578 parameters)",
))
