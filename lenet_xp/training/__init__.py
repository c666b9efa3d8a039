"""Training: a run's configuration (:mod:`~lenet_xp.training.config`, with where it computes:
:mod:`~lenet_xp.training.placement`); the loop (:mod:`~lenet_xp.training.trainer`) and what
happens around it (:mod:`~lenet_xp.training.extensions`), with the state it keeps
(:mod:`~lenet_xp.training.state`) and the scores it takes (:mod:`~lenet_xp.training.scoring`);
the step (:mod:`~lenet_xp.training.step`): one pass on one process
(:mod:`~lenet_xp.training.passes`), on threads (:mod:`~lenet_xp.training.split_batch`) and on
MPI ranks (:mod:`~lenet_xp.training.data_parallel`, :mod:`~lenet_xp.training.communicators`);
one whole run (:mod:`~lenet_xp.training.experiment`) and its continuation
(:mod:`~lenet_xp.training.resume`).

    >>> from lenet_xp.training import IO, RunConfig, run
    >>> result = run(RunConfig(model="lenet5", io=IO(data_dir="../shared/data/mnist")))
"""

from .config import IO, RunConfig
from .experiment import Experiment, RunResult, run
from .extensions import LogReport, MovingAverage, ProgressBar, RunFiles, Validation
from .placement import Placement
from .resume import resume_run
from .scoring import evaluate
from .state import EpochStats, TrainingState
from .step import TrainingStep
from .trainer import Extension, Feed, Trainer, TrainingDiverged

__all__ = ["IO", "EpochStats", "Experiment", "Extension", "Feed", "LogReport", "MovingAverage",
           "Placement", "ProgressBar", "RunConfig", "RunFiles", "RunResult", "Trainer",
           "TrainingDiverged", "TrainingState", "TrainingStep", "Validation", "evaluate",
           "resume_run", "run"]
