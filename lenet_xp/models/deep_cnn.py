"""The 21-layer VGG-style network of Saito's "Deep Learning from Scratch" (chapter 8,
``ch08/deep_convnet.py``), on raw 28×28 MNIST scaled to [0, 1].

    input (N, 1, 28, 28)
    conv 16@3×3 pad 1 -> ReLU -> conv 16@3×3 pad 1 -> ReLU -> max-pool 2×2   (N, 16, 14, 14)
    conv 32@3×3 pad 1 -> ReLU -> conv 32@3×3 pad 2 -> ReLU -> max-pool 2×2   (N, 32, 8, 8)
    conv 64@3×3 pad 1 -> ReLU -> conv 64@3×3 pad 1 -> ReLU -> max-pool 2×2   (N, 64, 4, 4)
    flatten 1024 -> linear 50 -> ReLU -> dropout 0.5 -> linear 10 -> dropout 0.5 -> softmax

21 layers counting each conv, ReLU, pool, linear, dropout and the softmax; 123,552
parameters. The source pads the fourth convolution by 2 (14 -> 16), so the last pooling sees
8×8 maps and the classifier gets 64·4·4 = 1,024 inputs; with padding 1 everywhere it would
be 64·3·3 = 576 after a floor in the last pooling. We follow the source.

The last dropout acts on the logits, in training only (the source has it too). lenet_xp's
dropout is "inverted" (kept units ×2 in training, identity at evaluation) where the source
scales by 0.5 at evaluation instead: the same predictions. Initialisation is He's,
N(0, 2/F_in), biases 0. The book trains with Adam (η = 0.001, batches of 100, 20 epochs) and
reports 99.37 % test accuracy; our recipe adds a decaying η and 1-pixel random shifts.
"""

from __future__ import annotations

from ..backend import Random
from ..layers import Conv2d, Dropout, Flatten, Layer, Linear, MaxPool2d, ReLU, Sequential
from ..layers.base import Drawn
from ..losses import SoftmaxCrossEntropy
from .recipe import Recipe
from .registry import ModelSpec, register

#: (output maps, padding) of the six 3×3 convolutions, as in ``deep_convnet.py``.
CONVOLUTIONS = ((16, 1), (16, 1), (32, 1), (32, 2), (64, 1), (64, 1))


def build_deep_cnn(random: Random, dtype: str = "float32", init: str = "he_normal") -> Sequential:
    """The network of the module's table, its weights drawn from ``random`` with ``init``."""
    drawn: Drawn = {"init": init, "random": random, "dtype": dtype}
    layers: list[tuple[str, Layer]] = []
    channels = 1
    for index, (maps, padding) in enumerate(CONVOLUTIONS, start=1):
        layers.append((f"conv{index}", Conv2d(channels, maps, 3, padding=padding, **drawn)))
        layers.append((f"relu{index}", ReLU()))
        if index % 2 == 0:
            layers.append((f"pool{index // 2}", MaxPool2d(2)))
        channels = maps
    layers += [
        ("flatten", Flatten()),
        ("affine1", Linear(64 * 4 * 4, 50, **drawn)),
        ("relu7", ReLU()),
        ("dropout1", Dropout(0.5, random=random)),
        ("affine2", Linear(50, 10, **drawn)),
        ("dropout2", Dropout(0.5, random=random)),
    ]
    return Sequential(*layers)


DEEP_CNN = register(ModelSpec(
    name="deep_cnn",
    build=build_deep_cnn,
    loss=SoftmaxCrossEntropy,
    input_size=28,
    normalisation="zero_one",
    # the book's Adam (η = 0.001, batches of 100, 20 epochs), plus two changes aimed at the
    # 99.5 % goal: η decays by 0.85 per epoch (to 4.6e-5 in the last), and 1-pixel random
    # shifts of the training images (as the modern lenet5 recipe)
    recipe=Recipe(epochs=20, batch_size=100, optimizer="adam", lr=1e-3, schedule="exponential",
                  gamma=0.85, shift=1),
    description="Saito's 21-layer VGG-style network: six 3x3 convs, ReLU, dropout, He init, "
                "Adam (123,552 parameters)",
))
