"""AdaGrad (Duchi, Hazan & Singer 2011)."""

from __future__ import annotations

from array_api_compat import array_namespace

from .base import Optimizer


class AdaGrad(Optimizer):
    """G ← G + g²;  w ← w − η g / (√G + ε)."""

    STATE_KEYS = frozenset({"sum_squares"})

    def __init__(self, params, lr: float = 0.01, eps: float = 1e-10, weight_decay: float = 0.0):
        super().__init__(params, lr, weight_decay)
        self.eps = eps

    def update(self, values, grad):
        xp = array_namespace(grad)
        state = self.flat_state
        if "sum_squares" not in state:
            state["sum_squares"] = xp.zeros_like(grad)
        sum_squares = state["sum_squares"]
        sum_squares += grad * grad
        values -= self.lr * grad / (xp.sqrt(sum_squares) + self.eps)
