"""Where a run stands: what each finished epoch measured (:class:`EpochStats`) and what the
loop needs, beyond weights, optimiser and random state, to continue a run as if it had never
stopped (:class:`TrainingState`: the finished epochs and early stopping), with its
``state_dict()`` / ``load_state_dict()``, the part ``"training"`` of a run's state
(:mod:`lenet_xp.runs.checkpoint` keeps it).
"""

from __future__ import annotations

import dataclasses
import math

from array_api_compat import array_namespace


@dataclasses.dataclass
class EpochStats:
    """What one epoch measured. Accuracies are fractions in [0, 1]; ``optimizer`` is the
    optimiser's ``epoch_summary()`` (SDLM: the range of its per-sample step sizes)."""

    epoch: int
    lr: float
    train_loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    seconds: float
    images_per_second: float
    elapsed: float
    optimizer: dict = dataclasses.field(default_factory=dict)

    def line(self, epochs: int) -> str:
        val = (f"val acc {100 * self.val_accuracy:6.2f}%" if self.val_accuracy is not None
               else "val acc    n/a")
        rates = (f"  rates {self.optimizer['rate_min']:.1e}..{self.optimizer['rate_max']:.1e}"
                 if "rate_min" in self.optimizer else "")
        return (f"epoch {self.epoch + 1:>2}/{epochs}  lr {self.lr:.2e}{rates}  "
                f"loss {self.train_loss:.4f}  train acc {100 * self.train_accuracy:6.2f}%  {val}  "
                f"{self.images_per_second:8,.0f} img/s  {self.seconds:6.1f} s  "
                f"(elapsed {self.elapsed:6.1f} s)")


@dataclasses.dataclass
class TrainingState:
    """Where a run stands between two epochs, beyond weights, optimiser and random state:
    what the :class:`~lenet_xp.training.trainer.Trainer` needs to continue a run as if it had
    never stopped.

    Attributes:
        history: the finished epochs' stats, in order (so ``epoch`` epochs are done).
        best_error: early stopping: the lowest validation error so far (inf before any).
        best_weights: the weights of that epoch (parameter name -> array), or None.
        waited: epochs since that epoch.
    """

    history: list[EpochStats] = dataclasses.field(default_factory=list)
    best_error: float = math.inf
    best_weights: dict | None = None
    waited: int = 0

    @property
    def epoch(self) -> int:
        """The number of finished epochs (the index of the next one)."""
        return len(self.history)

    def stopped_early(self, patience: int) -> bool:
        return patience > 0 and self.waited >= patience

    def track(self, val_accuracy: float | None, model, patience: int) -> None:
        """Early-stopping bookkeeping after an epoch: keep a copy of the weights when the
        validation error is the lowest so far, else count the epoch as waited."""
        if not patience or val_accuracy is None:
            return
        if 1.0 - val_accuracy < self.best_error:
            self.best_error, self.waited = 1.0 - val_accuracy, 0
            self.best_weights = {name: array_namespace(value).asarray(value, copy=True)
                                 for name, value in model.state_dict().items()}
        else:
            self.waited += 1

    def state_dict(self) -> dict:
        """This state as JSON and arrays: ``epoch``, ``history`` (each epoch's stats),
        ``early_stopping`` (``best_error``, None before any, and ``waited``) and, where kept,
        ``best`` (the best epoch's weights, name -> array on their device)."""
        state = {"epoch": self.epoch,
                 "history": [dataclasses.asdict(stats) for stats in self.history],
                 "early_stopping": {"best_error": (None if math.isinf(self.best_error)
                                                   else self.best_error),
                                    "waited": self.waited}}
        if self.best_weights is not None:
            state["best"] = self.best_weights
        return state

    def load_state_dict(self, state: dict) -> None:
        """Continue from :meth:`state_dict`'s state (its best weights may be host arrays:
        loading them into a model moves them). Raises KeyError, TypeError, ValueError or
        AttributeError where it is not such a state; nothing is set then."""
        history = [EpochStats(**stats) for stats in state["history"]]
        stopping = state["early_stopping"]
        best_error = math.inf if stopping["best_error"] is None else float(stopping["best_error"])
        waited = int(stopping["waited"])
        best = state.get("best")
        self.history, self.best_error, self.waited = history, best_error, waited
        self.best_weights = dict(best) if best else None
