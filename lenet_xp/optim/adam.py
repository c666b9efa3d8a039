"""Adam (Kingma & Ba 2015)."""

from __future__ import annotations

from array_api_compat import array_namespace

from .base import Optimizer


class Adam(Optimizer):
    """At step t:

        m ← β₁ m + (1 − β₁) g          v ← β₂ v + (1 − β₂) g²
        w ← w − η · m̂ / (√v̂ + ε),     m̂ = m / (1 − β₁ᵗ),  v̂ = v / (1 − β₂ᵗ)

    (Kingma & Ba 2015.) ``weight_decay`` adds λw to the weights' g first: L2 regularisation,
    not AdamW's decoupled decay.
    """

    STATE_KEYS = frozenset({"m", "v"})

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        super().__init__(params, lr, weight_decay)
        self.beta1, self.beta2 = betas
        self.eps = eps

    def update(self, values, grad):
        xp = array_namespace(grad)
        state = self.flat_state
        if "m" not in state:
            state["m"], state["v"] = xp.zeros_like(grad), xp.zeros_like(grad)
        m, v = state["m"], state["v"]
        m *= self.beta1
        m += (1.0 - self.beta1) * grad
        v *= self.beta2
        v += (1.0 - self.beta2) * (grad * grad)
        t = self.iterations
        step = self.lr / (1.0 - self.beta1 ** t)
        values -= step * m / (xp.sqrt(v / (1.0 - self.beta2 ** t)) + self.eps)
