"""Losses with hand-written gradients.

Each loss has ``forward(outputs, targets) -> E`` (a 0-d array, the mean over the batch),
``backward() -> dE/d outputs``, ``curvature() -> diag d²E/d outputs²`` (Gauss-Newton, for SDLM)
and ``predict(outputs) -> labels`` (the classification rule that goes with it).
"""

from __future__ import annotations

import math

from array_api_compat import array_namespace, device


def one_hot(labels, num_classes: int, dtype):
    """labels: (N,) integers -> (N, K) array with 1 at [n, labels[n]] and 0 elsewhere."""
    xp = array_namespace(labels)
    classes = xp.arange(num_classes, dtype=labels.dtype, device=device(labels))
    return xp.astype(xp.expand_dims(labels, axis=1) == classes, dtype)


class SoftmaxCrossEntropy:
    """Softmax cross-entropy from logits z: (N, K) and integer labels t: (N,).

        E = (1/N) Σ_n [ log Σ_k e^{z_nk} − z_{n,t_n} ]          (log-sum-exp after subtracting
        dE/dz = (softmax(z) − onehot(t)) / N                      max_k z_nk, so it never
        Gauss-Newton diagonal: softmax(z)(1 − softmax(z)) / N     overflows)
    """

    def __init__(self):
        self._probabilities = None
        self._targets = None

    def forward(self, logits, labels):
        xp = array_namespace(logits)
        if logits.ndim != 2 or labels.shape != (logits.shape[0],):
            raise ValueError(f"expected logits (N, K) and labels (N,), got {tuple(logits.shape)} "
                             f"and {tuple(labels.shape)}")
        shifted = logits - xp.max(logits, axis=1, keepdims=True)
        log_probabilities = shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))
        self._targets = one_hot(labels, logits.shape[1], logits.dtype)
        self._probabilities = xp.exp(log_probabilities)
        return -xp.sum(self._targets * log_probabilities) / logits.shape[0]

    __call__ = forward

    def backward(self):
        return (self._probabilities - self._targets) / self._targets.shape[0]

    def curvature(self):
        p = self._probabilities
        return p * (1.0 - p) / p.shape[0]

    @staticmethod
    def predict(logits):
        return array_namespace(logits).argmax(logits, axis=1)


class MeanSquaredError:
    """E = (1/M) Σ (y − t)² over all M = N·K elements of y and t: (N, K).

    dE/dy = 2 (y − t) / M;  d²E/dy² = 2 / M.
    """

    def __init__(self):
        self._residual = None

    def forward(self, outputs, targets):
        xp = array_namespace(outputs)
        if outputs.shape != targets.shape:
            raise ValueError(f"outputs {tuple(outputs.shape)} and targets {tuple(targets.shape)} differ in shape")
        self._residual = outputs - targets
        return xp.mean(self._residual ** 2)

    __call__ = forward

    def backward(self):
        return self._residual * (2.0 / self._size())

    def curvature(self):
        xp = array_namespace(self._residual)
        return xp.full_like(self._residual, 2.0 / self._size())

    def _size(self) -> int:
        return math.prod(self._residual.shape)

    @staticmethod
    def predict(outputs):
        return array_namespace(outputs).argmax(outputs, axis=1)
