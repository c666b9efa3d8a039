"""Stochastic diagonal Levenberg-Marquardt (SDLM): LeCun et al. 1998, appendix C.

A per-parameter learning rate from a running estimate of the loss's second derivatives::

    before each epoch:  h_kk = (1/P) Σ_p ∂²E_p/∂w_k²   (diagonal Gauss-Newton, P = 500 samples)
    each step:          w_k ← w_k − η / (μ + h_kk) · ∂E/∂w_k,        μ = 0.02

The h_kk come from one forward pass over P training samples (a fresh random subset each
epoch), the loss's ``curvature()`` (the diagonal of d²E/dy²) and the model's
``backward_curvature``, which back-propagates second derivatives layer by layer with the
Gauss-Newton rules of :mod:`lenet_xp.layers.base` (h_x = Σ w² h_y, h_w = Σ x² h_y,
h_a = f'(a)² h_y: the f'' terms and off-diagonal terms dropped, so every h_kk ≥ 0). μ keeps
the step bounded (by η/μ) where the curvature is small. A gradient pass over the same
samples runs first, so a layer may also keep its own second derivative weighted by dE/dy
(LeNet-5's RBF layer does, see :class:`lenet_xp.layers.EuclideanRBF`: without it the MAP
loss passes back almost no curvature, and SDLM degenerates to SGD with rate η/μ).
Batch normalisation, which couples the samples of a batch through its mean and variance,
passes back the exact diagonal of its own Gauss-Newton matrix, statistics included
(:mod:`lenet_xp.layers.batchnorm`); the estimate leaves its running statistics untouched.

Mini-batches versus the paper's batch size 1
--------------------------------------------
The paper updates after every sample: w ← w − η/(μ + h) · g_p, with g_p the gradient of one
sample's loss E_p and h the *average* per-sample curvature over the 500 samples. lenet_xp's
losses are means over the batch, and that makes the two parts scale differently:

- the curvature: ``loss.curvature()`` divides by the number of samples N in the estimation
  batch (d²/dy² of (1/N) Σ_p E_p), and the parameters are shared by all N samples, so what
  ``backward_curvature`` leaves in ``param.curvature`` is already (1/N) Σ_p h^(p), the
  paper's average per-sample h_kk. (Here it is accumulated over chunks of ``chunk_size``
  samples, each weighted by its share of the P samples.) So h and μ keep the paper's values
  and meaning, whatever the batch size;
- the gradient: a mini-batch of B gives the mean g = (1/B) Σ_p g_p, so one step with the
  paper's η moves the weights B times less than the paper's B per-sample steps. Matching the
  paper's progress per epoch needs η_batch = B · η_paper (to first order, as long as
  η_batch · (largest eigenvalue of the preconditioned Hessian) stays below 2).

Hence ``lr_scale``: the step is ``lr · lr_scale / (μ + h)``; with ``lr_scale = B`` (what the
``sdlm`` entry of :data:`lenet_xp.models.recipe.OPTIMIZERS` passes, the recipe's batch size) the
schedule holds the paper's per-sample η values unchanged. With B = 1 it is the paper's rule
exactly. Note what does *not* scale: μ and h (scaling them by B, as a sum-over-batch loss
would, changes the step's shape, not only its size). On LeNet-5, batches of 16 so scaled
make the progress per pass of the paper's per-sample updates (docs/lenet5_paper.md).

On μ: 0.02 is the paper's value and this class's default, but LeNet-5 diverges with it, and
the zoo's ``lenet5_paper`` recipe uses μ = 1 (docs/lenet5_paper.md says why).
μ bounds each per-sample step by η/μ, and a diagonal estimate cannot see that the F_in
weights of one unit, each moved by ~η/μ where its h is small, move the unit's input about
F_in times as far: μ has to be large enough for the layers of large fan-in.
"""

from __future__ import annotations

from array_api_compat import array_namespace

from ..backend import Random
from .base import Optimizer


class SDLM(Optimizer):
    """w ← w − η · lr_scale / (μ + h + λ_w) · g, with h re-estimated by :meth:`before_epoch`.

    Args:
        params: a model's ``parameters()`` dict or an iterable of Parameters.
        lr: η, the global rate (per sample when ``lr_scale`` is the batch size; see the module
            docstring); the schedule sets it each epoch.
        mu: μ, the damping added to every h_kk (paper: 0.02).
        samples: P, how many training samples the curvature is averaged over (paper: 500).
        lr_scale: multiplies η in every step (the batch size, to keep the paper's η).
        chunk_size: the curvature pass runs over the P samples in chunks of this many, to bound
            memory; the result does not depend on it, except through batch normalisation,
            which normalises each chunk by the chunk's own statistics.
        weight_decay: λ; for decayed parameters it is added to the gradient (λw) and to the
            curvature (λ), the exact second derivative of (λ/2)‖w‖².
        random: draws the P samples (a fresh subset each epoch); default ``Random(0)``.
    """

    STATE_KEYS = frozenset({"curvature"})

    def __init__(self, params, lr: float = 5e-4, mu: float = 0.02, samples: int = 500,
                 lr_scale: float = 1.0, chunk_size: int = 100, weight_decay: float = 0.0,
                 random: Random | None = None):
        super().__init__(params, lr, weight_decay)
        if mu <= 0 or samples < 1 or lr_scale <= 0 or chunk_size < 1:
            raise ValueError(f"SDLM needs mu > 0, samples >= 1, lr_scale > 0 and chunk_size >= 1, "
                             f"got mu={mu}, samples={samples}, lr_scale={lr_scale}, "
                             f"chunk_size={chunk_size}")
        self.mu, self.samples, self.lr_scale, self.chunk_size = mu, samples, lr_scale, chunk_size
        self.random = random or Random(0)

    def before_epoch(self, model, loss, dataset) -> None:
        """Estimate h_kk on ``samples`` random examples of ``dataset`` (a DeviceDataset)."""
        xp = dataset.backend.xp
        count = min(self.samples, len(dataset))
        order = self.random.permutation(len(dataset))[:count]
        index = dataset.backend.asarray(order, dtype=xp.int64)
        self.estimate_curvature(model, loss, xp.take(dataset.images, index, axis=0),
                                xp.take(dataset.labels, index, axis=0))

    def estimate_curvature(self, model, loss, images, targets) -> None:
        """Set each parameter's h_kk to the mean per-sample Gauss-Newton diagonal over
        ``images`` (N, ...) with ``targets`` (N, ...); leaves the model in training mode, with
        its running statistics (batch normalisation's) as they were: the estimate measures
        the model, it is no training step."""
        xp = array_namespace(images)
        total = images.shape[0]
        sums = [None] * len(self.params)
        running = {name: xp.asarray(value, copy=True) for name, value in model.state_arrays().items()}
        model.train()
        for start in range(0, total, self.chunk_size):
            stop = min(start + self.chunk_size, total)
            x = images[start:stop, ...]
            loss.forward(model.forward(x), targets[start:stop, ...])
            # each chunk's loss is a mean over its own samples: weight it by its share
            share = (stop - start) / total
            # a gradient pass first, for layers whose curvature pass uses dE/dy (EuclideanRBF
            # with second_order=True); it overwrites param.grad, which no one needs here
            model.backward(loss.backward() * share)
            model.backward_curvature(loss.curvature() * share)
            for i, param in enumerate(self.params):
                if param.curvature is None:
                    raise RuntimeError("a parameter got no curvature from backward_curvature: is "
                                       "it in the model the loss was computed through?")
                sums[i] = param.curvature if sums[i] is None else sums[i] + param.curvature
                param.curvature = None
        self.flat_state["curvature"] = curvature = self.flat.concat(sums)
        for param, h in zip(self.params, self.flat.split(curvature), strict=True):
            param.curvature = h
        for name, value in model.state_arrays().items():
            value[...] = running[name]

    def epoch_summary(self) -> dict[str, float]:
        """The smallest and largest per-sample step size η/(μ + h_kk + λ) over all trainable
        entries (a connection mask's fixed zeros left out): what the paper calls the
        "effective learning rates" (section V.A: "between approximately 7×10⁻⁵ and 0.016"
        during LeNet-5's first pass). Empty before the first curvature estimate."""
        if "curvature" not in self.flat_state:
            return {}
        curvature = self.flat_state["curvature"]
        xp = array_namespace(curvature)
        low = high = self.lr / (curvature + self._damping(curvature))
        mask = self.flat.mask(curvature)
        if mask is not None:
            trainable = mask > 0
            low, high = xp.where(trainable, low, xp.inf), xp.where(trainable, high, 0.0)
        return {"rate_min": float(xp.min(low)), "rate_max": float(xp.max(high))}

    def _damping(self, like):
        """μ + λ for the entries of parameters with weight decay, μ for the others: a number
        without weight decay, else a (P,) array."""
        if not self.weight_decay:
            return self.mu
        return self.mu + self.weight_decay * self.flat.decay(like)

    def update(self, values, grad):
        if "curvature" not in self.flat_state:
            raise RuntimeError("SDLM.step() before any curvature estimate: call "
                               "optimizer.before_epoch(model, loss, train_set) first")
        curvature = self.flat_state["curvature"]
        values -= (self.lr * self.lr_scale) * grad / (curvature + self._damping(curvature))
