"""The optimiser protocol: parameters in, in-place updates out."""

from __future__ import annotations

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
        if len(saved["state"]) != len(self.params):
            raise ValueError(f"optimiser state is for {len(saved['state'])} parameters, "
                             f"this model has {len(self.params)}")
        self.lr = saved["lr"]
        self.iterations = saved["iterations"]
        self.state = [{key: backend_of(param.data).asarray(value, dtype=param.data.dtype)
                       for key, value in s.items()}
                      for param, s in zip(self.params, saved["state"])]
