"""A batch-normalised CNN of our design, sized for a 2-core CPU, aimed at ≤ 0.35 % test error.

    input (N, 1, 28, 28), standardised
    conv 32@3×3 -> BN -> ReLU                      -> (N, 32, 26, 26)      288 + 64
    conv 32@3×3 -> BN -> max-pool 2×2 -> ReLU      -> (N, 32, 12, 12)    9,216 + 64
    conv 64@3×3 -> BN -> ReLU                      -> (N, 64, 10, 10)   18,432 + 128
    conv 64@3×3 -> BN -> max-pool 2×2 -> ReLU      -> (N, 64, 4, 4)     36,864 + 128
    flatten 1,024 -> linear 256 -> BN -> ReLU -> dropout 0.4           262,144 + 512
    linear 10 -> softmax cross-entropy                                   2,570
                                                                 total 330,410

The layout of the well-known Kaggle MNIST networks (3×3 convolutions in two pairs, batch
normalisation after every weight layer, a dense layer with dropout), with unpadded
convolutions: about 10 million multiply-adds per image, as many as deep_cnn's 8.8 million.
Convolutions and the dense layer have no bias, as batch normalisation's β takes its place;
max-pooling comes before the ReLU, with which it commutes (both are non-decreasing), so the
ReLU touches a quarter of the values. Weights start He-normal.

Batch normalisation uses each worker's own statistics: with ``--split-batch`` each thread's
slice, under MPI each rank's share (see :mod:`lenet_xp.layers.batchnorm`).

The recipe follows that reference (Adam 1e-3 decaying per epoch, affine distortions: random
rotations up to ±15°, scalings up to ±10 %, shifts up to ±2 pixels), in 15 epochs at ×0.9
per epoch rather than its 30 at ×0.95, with an exponential moving average of the weights
(decay 0.999) for validation, test and the saved model; the distortions were chosen on the
validation split (sweeps/bn_cnn_search.toml: rotations up to 10° or 15°, with or without
elastic fields after them; docs/results.md). Batches of 128 rather than the reference's 64: on two CPU threads a batch of 128 is split in two
(:class:`lenet_xp.training.split_batch.SplitBatch`, each thread normalising its 64), which uses two cores
best (docs/benchmarks.md), where batches of 64 are left to the BLAS threads.
"""

from __future__ import annotations

from ..backend import Random
from ..data.augment import Distortion
from ..layers import (
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Flatten,
    Linear,
    MaxPool2d,
    ReLU,
    Sequential,
)
from ..layers.base import Drawn
from ..losses import SoftmaxCrossEntropy
from .recipe import Recipe
from .registry import ModelSpec, register

#: output maps of the four 3×3 convolutions; a 2×2 max-pool follows the 2nd and the 4th
CONVOLUTIONS = (32, 32, 64, 64)
HIDDEN = 256


def build_bn_cnn(random: Random, dtype: str = "float32", init: str = "he_normal") -> Sequential:
    """The network of the module's table, its weights drawn from ``random`` with ``init``."""
    drawn: Drawn = {"init": init, "random": random, "dtype": dtype}
    layers, channels = [], 1
    for index, maps in enumerate(CONVOLUTIONS, start=1):
        layers += [(f"conv{index}", Conv2d(channels, maps, 3, bias=False, **drawn)),
                   (f"bn{index}", BatchNorm2d(maps, dtype=dtype))]
        if index % 2 == 0:
            layers.append((f"pool{index // 2}", MaxPool2d(2)))
        layers.append((f"relu{index}", ReLU()))
        channels = maps
    layers += [
        ("flatten", Flatten()),
        ("fc", Linear(channels * 4 * 4, HIDDEN, bias=False, **drawn)),
        ("bn5", BatchNorm1d(HIDDEN, dtype=dtype)), ("relu5", ReLU()),
        ("dropout", Dropout(0.4, random=random)),
        ("out", Linear(HIDDEN, 10, **drawn)),
    ]
    return Sequential(*layers)


BN_CNN = register(ModelSpec(
    name="bn_cnn",
    build=build_bn_cnn,
    loss=SoftmaxCrossEntropy,
    input_size=28,
    normalisation="standard",
    # chosen on the validation split (sweeps/bn_cnn_search.toml, docs/results.md)
    recipe=Recipe(epochs=15, batch_size=128, optimizer="adam", lr=1e-3, schedule="exponential",
                  gamma=0.9, ema=0.999,
                  distortion=Distortion("affine", shift=2.0, scale=0.1, squeeze=0.0, shear=0.0,
                                        rotation=15.0)),
    description="batch-normalised CNN: 3x3 convs 32-32-pool-64-64-pool, dense 256, BN after "
                "every weight layer, dropout 0.4, Adam, affine distortions, weight averaging "
                "(330,410 parameters)",
))
