"""Learning-rate schedules: callables from the epoch index (0-based) to η."""

from __future__ import annotations


class Constant:
    """η(e) = η₀."""

    def __init__(self, lr: float):
        self.lr = lr

    def __call__(self, epoch: int) -> float:
        return self.lr


class Step:
    """η(e) = η₀ · γ^⌊e / step_size⌋."""

    def __init__(self, lr: float, step_size: int, gamma: float = 0.1):
        self.lr, self.step_size, self.gamma = lr, step_size, gamma

    def __call__(self, epoch: int) -> float:
        return self.lr * self.gamma ** (epoch // self.step_size)


class Exponential:
    """η(e) = η₀ · γ^e."""

    def __init__(self, lr: float, gamma: float):
        self.lr, self.gamma = lr, gamma

    def __call__(self, epoch: int) -> float:
        return self.lr * self.gamma ** epoch


class Piecewise:
    """A list of (number of epochs, η) pieces; the last η holds for all later epochs.

    LeNet-5's schedule (LeCun et al. 1998, section V.A)::

        Piecewise([(2, 5e-4), (3, 2e-4), (3, 1e-4), (4, 5e-5), (1, 1e-5)])
    """

    def __init__(self, pieces):
        self.pieces = [(int(n), float(lr)) for n, lr in pieces]
        if not self.pieces or any(n < 1 for n, _ in self.pieces):
            raise ValueError("a piecewise schedule needs pieces of at least one epoch each")

    def __call__(self, epoch: int) -> float:
        for epochs, lr in self.pieces:
            if epoch < epochs:
                return lr
            epoch -= epochs
        return self.pieces[-1][1]
