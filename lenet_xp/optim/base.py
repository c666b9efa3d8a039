"""The optimiser protocol: parameters in, in-place updates out."""

from __future__ import annotations

import math

from ..backend import backend_of, to_numpy
from ..layers.base import Parameter


class Optimizer:
    """Updates each :class:`Parameter` from its ``grad`` with ``step()``.

    Args:
        params: a model's ``parameters()`` dict, or an iterable of Parameters.
        lr: the learning rate η; a schedule may set ``optimizer.lr`` between epochs.
        weight_decay: λ of L2 regularisation E + (λ/2)‖w‖², added to the gradient as λw for
            parameters with ``decay`` set (weights, not biases).

    Updates happen in place (``p.data -= …``), so the layers see them without re-binding.
    Parameters with a connection mask keep their unconnected entries at exactly 0.
    """

    #: what :meth:`update` keeps per parameter once it has stepped (its ``state`` keys)
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
        self.state: list[dict] = [{} for _ in self.params]

    def step(self) -> None:
        self.iterations += 1
        for param, state in zip(self.params, self.state):
            if param.grad is None:
                continue
            grad = param.grad
            if self.weight_decay and param.decay:
                grad = grad + self.weight_decay * param.data
            self.update(param, grad, state)
            if param.mask is not None:
                param.data *= param.mask

    def before_epoch(self, model, loss, dataset) -> None:
        """Called by the training loop before each epoch; first-order methods need nothing."""

    def epoch_summary(self) -> dict[str, float]:
        """Figures about this epoch's steps that the training log records (after
        :meth:`before_epoch`); first-order methods have none."""
        return {}

    def update(self, param: Parameter, grad, state: dict) -> None:
        """Apply one step to ``param.data`` in place; ``state`` is this parameter's memory."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        """Host (numpy) copies of everything needed to resume: lr, step count, per-parameter state."""
        return {"lr": self.lr, "iterations": self.iterations,
                "state": [{key: to_numpy(value) for key, value in s.items()} for s in self.state]}

    def load_state_dict(self, saved: dict) -> None:
        """Continue from ``saved`` (as :meth:`state_dict` returns it). Everything is checked
        before anything is set: the learning rate, the step count, and each parameter's
        state, none yet or exactly :attr:`STATE_KEYS`, each of the parameter's shape; a
        ValueError says what does not fit."""
        problems = _state_problems(saved, self.params, self.STATE_KEYS)
        if problems:
            raise ValueError("optimiser state does not fit: " + "; ".join(problems))
        self.lr = saved["lr"]
        self.iterations = saved["iterations"]
        self.state = [{key: backend_of(param.data).asarray(value, dtype=param.data.dtype)
                       for key, value in s.items()}
                      for param, s in zip(self.params, saved["state"])]


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
    for index, (param, state) in enumerate(zip(params, states)):
        if state and set(state) != keys:
            problems.append(f"parameter {index}'s state has {', '.join(sorted(state))}, not "
                            f"{', '.join(sorted(keys)) or 'any'}")
            continue
        problems += [f"parameter {index}'s {key} has shape {tuple(value.shape)}, the parameter "
                     f"{tuple(param.data.shape)}" for key, value in state.items()
                     if tuple(value.shape) != tuple(param.data.shape)]
    return problems
