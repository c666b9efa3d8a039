"""The evaluation loop: a network's outputs over many images, in batches, in evaluation mode,
with the summed loss where labels are given. Training's validation and test
(:func:`lenet_xp.training.scoring.evaluate`), ``scripts/evaluate.py``, prediction and the web
app all go through :func:`score`, so each prints the figure the others print.

Nothing is read back to the host: the outputs and the loss stay on the device for the caller
to reduce (an MPI rank all-reduces its shard's sums) or to bring back once.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from array_api_compat import array_namespace

#: images per forward pass: large enough to keep a GPU busy, small enough for its memory
EVAL_BATCH = 1000


@dataclasses.dataclass(frozen=True)
class Scores:
    """What :func:`score` gives, on the device: ``outputs`` (N, K), and ``loss_sum``, the sum
    over the images of the per-image loss (a scalar; None without labels)."""

    outputs: Any
    loss_sum: Any = None

    def correct(self, loss, labels):
        """The number of images whose predicted class (``loss.predict``) is the label (N,),
        as a device scalar."""
        xp = array_namespace(self.outputs)
        return xp.sum(xp.astype(loss.predict(self.outputs) == labels, xp.int64))


def score(network, loss, images, labels=None, batch_size: int = EVAL_BATCH) -> Scores:
    """``network``'s outputs for ``images`` (N, ...) in batches of ``batch_size``, in
    evaluation mode (no caches kept; the network's mode is restored after), and with
    ``labels`` (N,) the summed loss Σ_b n_b · E_b, where E_b is ``loss``'s mean over batch b."""
    xp, n = array_namespace(images), images.shape[0]
    was_training = network.training
    network.eval()
    parts, loss_sum = [], None
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)  # clipped: the standard leaves larger stops unspecified
        outputs = network.forward(images[start:stop, ...])
        parts.append(outputs)
        if labels is not None:
            part = loss.forward(outputs, labels[start:stop]) * (stop - start)
            loss_sum = part if loss_sum is None else loss_sum + part
    network.train(was_training)
    return Scores(parts[0] if len(parts) == 1 else xp.concat(parts, axis=0), loss_sum)
