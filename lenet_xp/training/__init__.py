"""Training: the loop (:mod:`~lenet_xp.training.loop`) and the state it keeps
(:mod:`~lenet_xp.training.state`); the step on one process (:mod:`~lenet_xp.training.step`),
on threads (:mod:`~lenet_xp.training.split_batch`) and on MPI ranks
(:mod:`~lenet_xp.training.data_parallel`, :mod:`~lenet_xp.training.communicators`), put
together in :mod:`~lenet_xp.training.strategy`; one whole run
(:mod:`~lenet_xp.training.experiment`) and its continuation (:mod:`~lenet_xp.training.resume`).

    >>> from lenet_xp.training import RunConfig, run
    >>> result = run(RunConfig(model="lenet5", data_dir="../shared/data/mnist", out="runs/x"))
"""

from .experiment import Experiment, RunConfig, RunResult, run
from .loop import TrainingDiverged, evaluate, fit
from .resume import resume_run
from .state import EpochStats, TrainingState

__all__ = ["EpochStats", "Experiment", "RunConfig", "RunResult", "TrainingDiverged",
           "TrainingState", "evaluate", "fit", "resume_run", "run"]
