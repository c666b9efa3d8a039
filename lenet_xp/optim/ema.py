"""An exponential moving average of a model's weights and state (Polyak averaging).

After every optimiser step, each array of the model's ``state_dict()`` (the parameters and
the layers' state: batch normalisation's running statistics) is folded into its average:

    a ← d_t · a + (1 − d_t) · θ,        d_t = min(decay, (1 + t) / (10 + t))

where t counts the earlier updates (0 at the first, so d_0 = 0.1). The warm-up term is
TensorFlow's ``ExponentialMovingAverage(num_updates=...)``: without it the average would
keep the random initial weights at weight decay^t (0.63 after 469 steps at decay 0.999,
bn_cnn's first epoch), and the first epochs' validation would score mostly noise. From
t ≈ 9/(1 − decay) on (9,000 steps at 0.999) d_t is ``decay``.

The average lives in a copy of the model (:attr:`ExponentialMovingAverage.model`, in
evaluation mode), as PyTorch's ``AveragedModel`` does: it is evaluated, saved and loaded
like any model, and evaluating it never touches the training weights. The update runs on the
model's device and reads nothing back to the host. It takes every array at once, as one flat
array (:class:`lenet_xp.optim.flat.FlatLayout`): the source's arrays and the average's are
each gathered end to end, a ← d·a + (1 − d)·θ is three operations for the whole model, and
the copy's parameters and state arrays then point at the slices of the result.
"""

from __future__ import annotations

import copy

from array_api_compat import array_namespace

from .flat import FlatLayout


class ExponentialMovingAverage:
    """The moving average of ``model``'s ``state_dict()`` with the given ``decay`` (0 < decay < 1).

    ``update()`` after every optimiser step; ``model`` holds the averages (evaluate it, save
    it); ``state_dict()`` / ``load_state_dict()`` give what a checkpoint needs to continue.
    """

    def __init__(self, model, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the moving average's decay must be in (0, 1), got {decay}")
        for name, value in model.state_dict().items():
            if not array_namespace(value).isdtype(value.dtype, "real floating"):
                raise TypeError(f"cannot average {name}: its dtype {value.dtype} is not floating")
        self.source = model
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).eval()
        state = self.model.state_dict()
        self._names = list(state)
        self._layout = FlatLayout(tuple(value.shape) for value in state.values())

    def current_decay(self) -> float:
        """d_t of the next update."""
        return min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))

    def update(self) -> None:
        """Fold the source model's current state into the averages (in place, on its device)."""
        weight = 1.0 - self.current_decay()
        current = self.source.state_dict()
        average = self._layout.concat(list(self.model.state_dict().values()), "average")
        average -= weight * (average - self._layout.concat([current[name] for name in self._names]))
        self.model.point_at(dict(zip(self._names, self._layout.split(average), strict=True)))
        self.updates += 1

    def state_dict(self) -> dict:
        """``{"updates": t, "averages": name -> array}`` (the averages on the device, no copies)."""
        return {"updates": self.updates, "averages": self.model.state_dict()}

    def load_state_dict(self, saved: dict) -> None:
        """Continue from what :meth:`state_dict` gave (the averages may be host arrays).
        Raises KeyError or ValueError where the averages do not fit the model."""
        self.model.load_state_dict(saved["averages"])
        self.updates = int(saved["updates"])
