"""The optimiser protocol: parameters in, all of them updated at once, as one flat array."""

from __future__ import annotations

import math

from ..backend import backend_of, to_numpy
from ..layers.base import Parameter
from .flat import FlatParameters


class Optimizer:
    """Updates each :class:`Parameter` from its ``grad`` with ``step()``.

    Args:
        params: a model's ``parameters()`` dict, or an iterable of Parameters (one dtype and
            device).
        lr: the learning rate η; a schedule may set ``optimizer.lr`` between epochs.
        weight_decay: λ of L2 regularisation E + (λ/2)‖w‖², added to the gradient as λw for
            parameters with ``decay`` set (weights, not biases).

    A step updates all parameters at once, as one flat array (:mod:`lenet_xp.optim.flat`: a
    dozen operations for the whole model): it gathers the values and the gradients end to
    end, :meth:`update` changes the values, and every ``param.data`` then points at its
    slice of the result, which the layers read at their next forward pass. The optimiser's
    own state (Adam's moments, ...) is kept flat too, in :attr:`flat_state`; :attr:`state`
    and :meth:`state_dict` give it per parameter. Parameters with a connection mask keep
    their unconnected entries at exactly 0.
    """

    #: what :meth:`update` keeps once it has stepped (its ``flat_state`` keys)
    STATE_KEYS: frozenset = frozenset()

    def __init__(self, params, lr: float, weight_decay: float = 0.0):
        self.params: list[Parameter] = list(params.values() if isinstance(params, dict) else params)
        if not self.params:
            raise ValueError("the optimiser got no parameters")
        if lr <= 0 or weight_decay < 0:
            raise ValueError(f"need lr > 0 and weight_decay >= 0, got lr={lr}, weight_decay={weight_decay}")
        self.lr = lr
        self.weight_decay = weight_decay
        self.iterations = 0
        self.flat = FlatParameters(self.params)
        #: key -> (P,) array of the state for every entry, end to end; empty before a step
        self.flat_state: dict = {}

    @property
    def state(self) -> list[dict]:
        """Each parameter's state, ``{key: array of its shape}`` (``{}`` before the first step)."""
        per_param = {key: self.flat.split(value) for key, value in self.flat_state.items()}
        return [{key: arrays[k] for key, arrays in per_param.items()}
                for k in range(len(self.params))]

    def step(self) -> None:
        self.iterations += 1
        values, grad = self.flat.values(), self.flat.gradients()
        if self.weight_decay:
            grad = grad + (self.weight_decay * self.flat.decay(values)) * values
        self.update(values, grad)
        mask = self.flat.mask(values)
        if mask is not None:
            values *= mask
        self.flat.scatter(values)

    def before_epoch(self, model, loss, dataset) -> None:
        """Called by the training loop before each epoch; first-order methods need nothing."""

    def epoch_summary(self) -> dict[str, float]:
        """Figures about this epoch's steps that the training log records (after
        :meth:`before_epoch`); first-order methods have none."""
        return {}

    def update(self, values, grad) -> None:
        """Apply one step to ``values`` (P,), every parameter end to end, in place, from
        ``grad`` (P,) (weight decay included); :attr:`flat_state` is the optimiser's memory."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        """Host (numpy) copies of everything needed to resume: lr, step count, per-parameter state."""
        return {"lr": self.lr, "iterations": self.iterations,
                "state": [{key: to_numpy(value) for key, value in s.items()} for s in self.state]}

    def load_state_dict(self, saved: dict) -> None:
        """Continue from ``saved`` (as :meth:`state_dict` returns it). Everything is checked
        before anything is set: the learning rate, the step count, and each parameter's
        state, none yet (for every parameter) or exactly :attr:`STATE_KEYS`, each of the
        parameter's shape; a ValueError says what does not fit."""
        problems = _state_problems(saved, self.params, self.STATE_KEYS)
        if problems:
            raise ValueError("optimiser state does not fit: " + "; ".join(problems))
        self.lr = saved["lr"]
        self.iterations = saved["iterations"]
        states, like = saved["state"], self.params[0].data
        backend = backend_of(like)
        self.flat_state = {key: self.flat.concat([backend.asarray(s[key], dtype=like.dtype)
                                                  for s in states])
                           for key in (states[0] if states else {})}


def _state_problems(saved: dict, params: list, keys: frozenset) -> list[str]:
    """What in a saved optimiser state does not fit ``params`` (an optimiser keeping ``keys``)."""
    lr, iterations, states = saved.get("lr"), saved.get("iterations"), saved.get("state")
    problems = []
    if not (isinstance(lr, (int, float)) and not isinstance(lr, bool) and math.isfinite(lr)
            and lr > 0):
        problems.append(f"lr must be a finite number > 0, got {lr!r}")
    if not (isinstance(iterations, int) and not isinstance(iterations, bool) and iterations >= 0):
        problems.append(f"iterations must be an integer >= 0, got {iterations!r}")
    if not isinstance(states, list) or len(states) != len(params):
        count = len(states) if isinstance(states, list) else "no"
        return problems + [f"it is for {count} parameters, this model has {len(params)}"]
    if len({bool(state) for state in states}) > 1:
        problems.append("it has state for some parameters and none for others (one flat state "
                        "holds all or none)")
    for index, (param, state) in enumerate(zip(params, states, strict=True)):
        if state and set(state) != keys:
            problems.append(f"parameter {index}'s state has {', '.join(sorted(state))}, not "
                            f"{', '.join(sorted(keys)) or 'any'}")
            continue
        problems += [f"parameter {index}'s {key} has shape {tuple(value.shape)}, the parameter "
                     f"{tuple(param.data.shape)}" for key, value in state.items()
                     if tuple(value.shape) != tuple(param.data.shape)]
    return problems
