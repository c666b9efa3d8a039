"""Stochastic gradient descent with (Nesterov) momentum."""

from __future__ import annotations

from array_api_compat import array_namespace

from .base import Optimizer


class SGD(Optimizer):
    """With momentum μ (PyTorch's formulation):

        v ← μ v + g
        w ← w − η v                 (classical)
        w ← w − η (g + μ v)         (Nesterov)

    With μ = 0 this is plain SGD, w ← w − η g.
    """

    STATE_KEYS = frozenset({"velocity"})

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0):
        super().__init__(params, lr, weight_decay)
        if nesterov and momentum <= 0:
            raise ValueError("Nesterov momentum needs momentum > 0")
        self.momentum, self.nesterov = momentum, nesterov

    def update(self, values, grad):
        if not self.momentum:
            values -= self.lr * grad
            return
        state = self.flat_state
        if "velocity" not in state:
            state["velocity"] = array_namespace(grad).zeros_like(grad)
        velocity = state["velocity"]
        velocity *= self.momentum
        velocity += grad
        values -= self.lr * (grad + self.momentum * velocity if self.nesterov else velocity)
