"""Losses with hand-written gradients.

Each loss has ``forward(outputs, targets) -> E`` (a 0-d array, the mean over the batch),
``backward() -> dE/d outputs``, ``curvature() -> diag d²E/d outputs²`` (Gauss-Newton, for SDLM),
``predict(outputs) -> labels`` (the classification rule that goes with it) and, for the
classification losses, ``scores(outputs) -> (N, K)`` class probabilities, with ``SCORE`` saying
in words what they are and ``SCORE_KIND`` which kind they are: ``"probability"`` (rows sum
to 1) or ``"map_posterior"`` (the MAP criterion's, whose rows keep mass for "none of these";
a committee averages only scores of one kind).
"""

from __future__ import annotations

import math

from array_api_compat import array_namespace, device

from .backends.base import Array
from .primitives import clamp


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

    ``predict`` is the argmax of z, ``scores`` its softmax.
    """

    def __init__(self):
        self._probabilities: Array = None
        self._targets: Array = None

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

    SCORE = "probability (softmax of the logits)"
    SCORE_KIND = "probability"

    @staticmethod
    def scores(logits):
        """(N, K) logits -> (N, K) softmax probabilities, each row summing to 1."""
        xp = array_namespace(logits)
        exponentials = xp.exp(logits - xp.max(logits, axis=1, keepdims=True))
        return exponentials / xp.sum(exponentials, axis=1, keepdims=True)


class MeanSquaredError:
    """E = (1/M) Σ (y − t)² over all M = N·K elements of y and t: (N, K).

    dE/dy = 2 (y − t) / M;  d²E/dy² = 2 / M.
    """

    def __init__(self):
        self._residual: Array = None

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


class MAPLoss:
    """LeNet-5's maximum a posteriori criterion (LeCun et al. 1998, eq. 9) on RBF penalties.

    From penalties y: (N, K) (the RBF outputs, smaller is better) and integer labels t: (N,),

        E = (1/N) Σ_n [ y_{n,t_n} + log( e^{−j} + Σ_i e^{−y_{n,i}} ) ]

    The second term is a log-sum-exp over K + 1 "logits" (−y_1, …, −y_K, −j): the K classes
    and a background "rubbish" class of fixed penalty j. With q the softmax over those K + 1
    values (q_i for class i, the rest of the mass for the rubbish class),

        dE/dy_{n,i}   = (onehot(t)_{n,i} − q_{n,i}) / N
        d²E/dy_{n,i}² = q_{n,i} (1 − q_{n,i}) / N                     (``curvature()``)

    The curvature is the exact diagonal of the Hessian with respect to y: y_{t} enters
    linearly, and the log-sum-exp is convex, so its diagonal is q(1 − q) ≥ 0 and is its own
    Gauss-Newton diagonal; SDLM takes it from here through the RBF layer's Gauss-Newton rule.
    Classification: the class of smallest penalty, argmin_i y_i.

    j: the paper says only "a positive constant"; we use j = 5. When the right class's
    penalty y_t is below j the rubbish term is negligible and q_i ≈ e^{−(y_i − y_t)}: every
    wrong class within a few units of the right one is pushed up, a margin relative to y_t.
    When every penalty is beyond j (a badly wrong answer), e^{−j} dominates, E ≈ y_t − j + …,
    and only y_t is pulled down: the paper's "prevents the penalties of classes that are
    already very large from being pushed further up". In a trained LeNet-5 y_t is about 1–2
    and two bitmaps are ≥ 52 apart, so j = 5 sits between. Many reproductions use j = 0.1,
    which leaves e^{−j} ≈ 0.9 dominant whenever y_t > ~2: E is then the MSE criterion (eq. 8)
    with no competition at all; j = 5 keeps the discriminative term the paper argues for
    (LeNet-5's test error with j from 0.1 to 20: docs/lenet5_paper.md).
    j → ∞ is cross-entropy on −y (:class:`RBFCrossEntropy`).
    """

    def __init__(self, j: float = 5.0):
        if not j > 0:
            raise ValueError(f"the MAP criterion's constant j must be positive, got {j}")
        self.j = j
        self._q: Array = None
        self._targets: Array = None

    def forward(self, penalties, labels):
        xp = array_namespace(penalties)
        if penalties.ndim != 2 or labels.shape != (penalties.shape[0],):
            raise ValueError(f"expected penalties (N, K) and labels (N,), got "
                             f"{tuple(penalties.shape)} and {tuple(labels.shape)}")
        exponentials, total, top = self._exponentials(penalties)
        self._targets = one_hot(labels, penalties.shape[1], penalties.dtype)
        self._q = exponentials / total
        correct = xp.sum(self._targets * penalties, axis=1)
        return xp.mean(correct + xp.squeeze(top + xp.log(total), axis=1))

    __call__ = forward

    def backward(self):
        return (self._targets - self._q) / self._q.shape[0]

    def curvature(self):
        q = self._q
        return q * (1.0 - q) / q.shape[0]

    @staticmethod
    def predict(penalties):
        return array_namespace(penalties).argmin(penalties, axis=1)

    SCORE = ("posterior of the MAP criterion, e^(-y_i) / (e^(-j) + sum_k e^(-y_k)) over the RBF "
             "penalties y; what the ten leave is the 'none of these' class")
    SCORE_KIND = "map_posterior"

    def scores(self, penalties):
        """(N, K) penalties -> (N, K) posteriors q_i = e^{−y_i} / (e^{−j} + Σ_k e^{−y_k}): the
        softmax that eq. 9 takes over the K classes and the rubbish class of penalty j, so a
        row sums to 1 − q_rubbish < 1."""
        exponentials, total, _ = self._exponentials(penalties)
        return exponentials / total

    def _exponentials(self, penalties):
        """e^{−y − m} (N, K), their sum plus e^{−j − m} (N, 1), and m (N, 1): the largest of
        the K + 1 exponents, subtracted so that nothing overflows."""
        xp = array_namespace(penalties)
        top = clamp(xp.max(-penalties, axis=1, keepdims=True), low=-self.j)
        exponentials = xp.exp(-penalties - top)
        return exponentials, xp.sum(exponentials, axis=1, keepdims=True) + xp.exp(-self.j - top), top


class RBFCrossEntropy:
    """Softmax cross-entropy read from RBF penalties y: (N, K), with logits z = −y.

        E = (1/N) Σ_n [ log Σ_k e^{−y_nk} + y_{n,t_n} ]
        dE/dy = −(softmax(−y) − onehot(t)) / N,   d²E/dy² = softmax(−y)(1 − softmax(−y)) / N

    How students often put a softmax on top of LeNet-5's RBF layer (``lenet5_sigmoid``). It
    is the MAP criterion with j → ∞ (no rubbish class). With ±1 prototypes all of norm √84,
    −y_i = 2 x·w_i − ‖x‖² − 84, and the softmax ignores the terms common to every class: the
    RBF layer then acts as a fixed linear read-out 2 x·w_i. Classification: argmin_i y_i.
    """

    def __init__(self):
        self._cross_entropy = SoftmaxCrossEntropy()

    def forward(self, penalties, labels):
        return self._cross_entropy.forward(-penalties, labels)

    __call__ = forward

    def backward(self):
        return -self._cross_entropy.backward()

    def curvature(self):
        return self._cross_entropy.curvature()

    @staticmethod
    def predict(penalties):
        return array_namespace(penalties).argmin(penalties, axis=1)

    SCORE = "probability (softmax of the negated RBF penalties, -y)"
    SCORE_KIND = "probability"

    @staticmethod
    def scores(penalties):
        """(N, K) penalties -> (N, K) softmax(−y) probabilities, each row summing to 1."""
        return SoftmaxCrossEntropy.scores(-penalties)
