"""Continue a run from its last checkpoint, with the numbers it would have had uninterrupted.

A checkpoint (``checkpoint.npz``, written after every epoch) holds the run's whole state
(:meth:`Experiment.state_dict <lenet_xp.training.experiment.Experiment.state_dict>`): the
weights, the optimiser's state (Adam moments, SDLM curvatures, momentum, step count), the
moving average of the weights where the recipe keeps one (``ema``) with its update count,
the host random generator's state (which, through :meth:`lenet_xp.backend.Random.start_epoch`,
fixes the shuffling, augmentation, SDLM's samples and the dropout masks of every later
epoch, GPU included), and the training state (the finished epochs, early stopping with the
best weights). Resuming is building the run from the checkpoint's configuration, then
loading that state. Only what does not change the numbers may differ in the configuration
(:func:`lenet_xp.training.config.resume_changes`), and ``epochs``, which may extend the run.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from pathlib import Path

from ..data.mnist import holds_mnist
from ..runs.checkpoint import Checkpoint, CheckpointError, load_checkpoint
from ..runs.folder import CHECKPOINT, METRICS, MODEL
from ..runs.metrics import epoch_record, epochs_of, read_metrics
from .communicators import create_communicator, set_up_together
from .config import RunConfig, resume_changes, run_differences
from .experiment import Experiment, RunResult


def find_checkpoint(source) -> Path:
    """``source`` is a run folder (its ``checkpoint.npz``) or the path of a checkpoint."""
    path = Path(source)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}: give a run folder that has a "
                              f"{CHECKPOINT} (training writes one after every epoch) or its path")
    return path


def resume_config(checkpoint: Checkpoint, changes: dict, recipe_changes: dict) -> RunConfig:
    """The checkpoint's configuration, with ``changes`` (flat config keys) and
    ``recipe_changes`` (flat recipe keys) applied where allowed. The run continues in the
    checkpoint's folder. Its data comes from ``changes["data_dir"]`` (``--data-dir``), else
    from the checkpoint's data folder if that holds the four files, else from
    ``$LENET_XP_DATA`` or the cache: a missing file is never downloaded into a folder that a
    checkpoint names (``/etc``).

    Raises:
        ValueError: a change that contradicts the checkpoint (another model, seed, dtype, data
            option or recipe value), naming each and the checkpoint's value.
    """
    meta, path = checkpoint.meta, checkpoint.path
    assert path is not None, "a checkpoint read from a file"
    saved = RunConfig.from_dict({**meta["config"], "out": str(path.parent)}, dict(meta["recipe"]))
    config, problems = resume_changes(saved, changes, recipe_changes)
    if problems:
        raise ValueError(f"{path} continues its own run; these contradict it: "
                         f"{'; '.join(problems)}. Leave them out (only --epochs, to extend the "
                         "run, and where it runs may change), or start a new run with --out")
    data_dir = config.io.data_dir
    if "data_dir" not in changes and not (data_dir and holds_mnist(data_dir)):
        data_dir = None  # $LENET_XP_DATA or the cache: never a folder a file names
    return dataclasses.replace(config, io=dataclasses.replace(config.io, data_dir=data_dir))


def check_folder(checkpoint: Checkpoint, history: list, folder: Path) -> None:
    """The run folder's other files must be the checkpoint's run, which resuming rewrites:
    its ``model.npz`` (if any) of the same run (model, configuration and recipe, ``epochs``
    aside) and of no more epochs, its ``metrics.jsonl`` (if any) beginning with the
    checkpoint's epochs (``history``, its :class:`~lenet_xp.training.state.EpochStats`).
    Raises CheckpointError naming what differs."""
    meta, source = checkpoint.meta, checkpoint.path
    final_path = folder / MODEL
    if final_path.exists():
        final = load_checkpoint(final_path).meta
        differences = run_differences(meta, final, MODEL)
        if differences:
            more = f" (and {len(differences) - 3} more)" if len(differences) > 3 else ""
            raise CheckpointError(f"{source} is not the checkpoint of the run in {folder}: its "
                                  f"{'; '.join(differences[:3])}{more}. Resuming would overwrite "
                                  "that run: give the checkpoint a folder of its own")
        if final.get("epoch", 0) > len(history):
            raise CheckpointError(f"{final_path} holds {final['epoch']} epochs, the checkpoint "
                                  f"{len(history)}: resuming would replace the longer "
                                  "run with a shorter one")
    records = [epoch_record(stats) for stats in history]
    try:
        recorded = epochs_of(read_metrics(folder / METRICS, torn_end=True))
    except FileNotFoundError:
        recorded = []
    except OSError as exc:
        raise CheckpointError(f"{folder / METRICS} is not a run's metrics ({exc}): move it away "
                              "to resume") from None
    except ValueError as exc:
        raise CheckpointError(f"{exc}: not a run's metrics; move it away to resume") from None
    if recorded and recorded[:len(records)] != records:
        first = next((i for i, (a, b) in enumerate(zip(recorded, records, strict=False)) if a != b),
                     min(len(recorded), len(records)))
        raise CheckpointError(f"{folder / METRICS} holds other epochs than {source} (from epoch "
                              f"{first + 1} on): they are two runs, and resuming would "
                              "overwrite the metrics; give the checkpoint a folder of its own")


def resume_run(source, changes: dict | None = None, recipe_changes: dict | None = None,
               log: Callable[[str], None] = print, comm=None) -> RunResult:
    """Continue the run whose checkpoint is ``source`` (a run folder or a ``checkpoint.npz``)
    to its last epoch (``recipe_changes={"epochs": N}`` extends it), then test it and write
    ``model.npz``; ``metrics.jsonl`` keeps the finished epochs and continues. ``changes``:
    flat configuration keys (``{"device": "cuda", "threads": 2}``). ``comm``: as for
    :func:`~lenet_xp.training.experiment.run` (a sweep's worker resumes alone).

    Raises:
        CheckpointError: missing, damaged, not lenet_xp's, from a newer lenet_xp, not a
            resumable checkpoint (``model.npz`` holds final weights only), or not fitting.
        ValueError: a change that contradicts the checkpoint (see :func:`resume_config`);
            RunFolderError (a ValueError): the folder is in use by another run.
    Nothing in the run's folder is written before all of that has been checked.
    """
    comm = comm if comm is not None else create_communicator()
    with contextlib.ExitStack() as stack:
        with set_up_together(comm):  # a rank that cannot start stops them all, with one message
            checkpoint = load_checkpoint(find_checkpoint(source))
            checkpoint.require_resumable()
            config = resume_config(checkpoint, changes or {}, recipe_changes or {})
            resolved, backend = config.resolve(comm, log)
            experiment = stack.enter_context(Experiment(resolved, backend, comm, log))
            experiment.claim(new=False)
            experiment.load_state_dict(checkpoint.state, str(checkpoint.path))
            check_folder(checkpoint, experiment.state.history, Path(str(config.io.out)))
        return experiment.train()
