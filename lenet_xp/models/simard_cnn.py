"""The convolutional network of Simard, Steinkraus & Platt, "Best practices for convolutional
neural networks applied to visual document analysis" (ICDAR 2003): 0.40 % test error on MNIST
with elastic distortions, trained with cross-entropy.

    input (N, 1, 29, 29): MNIST's 28×28 with one blank row and column (bottom, right)
    conv 5@5×5 stride 2    -> (N, 5, 13, 13)  -> f          130 parameters
    conv 50@5×5 stride 2   -> (N, 50, 5, 5)   -> f        6,300
    flatten 1,250 -> linear 100               -> f      125,100
    linear 10 -> softmax cross-entropy                    1,010
                                                  total  132,540

Strided convolutions replace subsampling layers: 29 = 2·13 + 3 and 13 = 2·5 + 3, so each
5×5 window at stride 2 fits the map exactly, which is why the paper feeds 29×29 images. The
extra row and column is the model's own preprocessing (``input_size`` 29), recorded in its
checkpoints as lenet5's 32 is. Training distorts every batch with the paper's elastic fields
(α = 34, σ = 4 pixels, :func:`lenet_xp.data.augment.elastic_field`).

f: which squashing function the paper used could not be checked from its text here; we use
LeCun's scaled tanh 1.7159 tanh(2a/3), the sigmoid-like unit of the networks the paper builds
on (LeCun et al. 1998) and of the public re-implementations of this network (e.g. M. O'Neill's
2006 one), not ReLU, which came later. Weights start Glorot-uniform, biases 0; inputs are
standardised (training mean and std).

The paper trained with plain stochastic gradient descent, one sample at a time; here Adam
1e-3 decayed by 0.95 an epoch, batches of 32, 60 epochs and the moving average of the
weights (0.999), chosen on the validation split (sweeps/simard_cnn_search.toml, then
simard_cnn_schedule_search.toml: after 30 epochs at ×0.9 the network still underfitted its
distorted batches).
"""

from __future__ import annotations

from ..backend import Random
from ..data.augment import Distortion
from ..layers import Conv2d, Flatten, Linear, ScaledTanh, Sequential
from ..layers.base import Drawn
from ..losses import SoftmaxCrossEntropy
from .recipe import Recipe
from .registry import ModelSpec, register


def build_simard_cnn(random: Random, dtype: str = "float32", init: str = "xavier_uniform") -> Sequential:
    """The network of the module's table, its weights drawn from ``random`` with ``init``."""
    drawn: Drawn = {"init": init, "random": random, "dtype": dtype}
    return Sequential(
        ("conv1", Conv2d(1, 5, 5, stride=2, **drawn)), ("act1", ScaledTanh()),
        ("conv2", Conv2d(5, 50, 5, stride=2, **drawn)), ("act2", ScaledTanh()),
        ("flatten", Flatten()),
        ("hidden", Linear(50 * 5 * 5, 100, **drawn)), ("act3", ScaledTanh()),
        ("out", Linear(100, 10, **drawn)),
    )


SIMARD_CNN = register(ModelSpec(
    name="simard_cnn",
    build=build_simard_cnn,
    loss=SoftmaxCrossEntropy,
    input_size=29,
    normalisation="standard",
    # the paper's distortions; Adam, its schedule and length chosen on the validation split
    # (sweeps/simard_cnn_search.toml, simard_cnn_schedule_search.toml; docs/results.md)
    recipe=Recipe(epochs=60, batch_size=32, optimizer="adam", lr=1e-3, schedule="exponential",
                  gamma=0.95, ema=0.999,
                  distortion=Distortion("elastic", alpha=34.0, sigma=4.0)),
    description="Simard, Steinkraus & Platt 2003: 29x29 input, conv 5 and conv 50 at stride 2, "
                "100 hidden, scaled tanh, elastic distortions alpha 34 sigma 4 "
                "(132,540 parameters)",
))
