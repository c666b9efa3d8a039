"""Continue a run from its last checkpoint, with the numbers it would have had uninterrupted.

A checkpoint (``checkpoint.npz``, written after every epoch) holds the weights, the
optimiser's state (Adam moments, SDLM curvatures, momentum, step count), the moving average
of the weights where the recipe keeps one (``ema``) with its update count, the host random
generator's state (which, through :meth:`lenet_xp.backend.Random.start_epoch`, fixes the
shuffling, augmentation, SDLM's samples and the dropout masks of every later epoch, GPU
included), the early-stopping state with the best weights, and the history of finished
epochs. The run's configuration comes from the checkpoint too: only what does not change the
numbers may differ (:data:`FREE_FIELDS`), and ``epochs``, which may extend the run.
:class:`~lenet_xp.training.experiment.Experiment` writes the checkpoint
(``checkpoint_meta``, ``checkpoint_groups``) and reads it back (``restore``); this module
finds it and checks it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..models import MODELS
from ..runs.checkpoint import CheckpointError, load_checkpoint
from ..runs.folder import CHECKPOINT
from .experiment import RESUME_KEYS, Experiment, RunConfig, RunResult

#: RunConfig fields a resumed run may change: where and how it runs, not what it computes.
FREE_FIELDS = ("device", "data_dir", "verify", "download", "progress", "plot", "threads",
               "split_batch")


def find_checkpoint(source) -> Path:
    """``source`` is a run folder (its ``checkpoint.npz``) or the path of a checkpoint."""
    path = Path(source)
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}: give a run folder that has a "
                              f"{CHECKPOINT} (training writes one after every epoch) or its path")
    return path


def resume_config(meta: dict, path: Path, changes: dict, recipe_changes: dict) -> RunConfig:
    """The checkpoint's RunConfig, with ``changes`` (RunConfig fields) and ``recipe_changes``
    (recipe fields) applied where allowed. The run continues in the checkpoint's folder.

    Raises:
        ValueError: a change that contradicts the checkpoint (another model, seed, dtype, data
            option or recipe value), naming each and the checkpoint's value.
    """
    saved = {**meta["config"], "out": str(path.parent), "recipe": dict(meta["recipe"])}
    problems = [f"--{name.replace('_', '-')} {value!r} (the checkpoint's run has {saved[name]!r})"
                for name, value in changes.items()
                if name not in FREE_FIELDS and name in saved and value != saved[name]]
    problems += [f"recipe {name}={value!r} (the checkpoint's run has {saved['recipe'].get(name)!r})"
                 for name, value in recipe_changes.items()
                 if name != "epochs" and _differs(value, saved["recipe"].get(name))]
    if problems:
        raise ValueError(f"{path} continues its own run; these contradict it: "
                         f"{'; '.join(problems)}. Leave them out (only --epochs, to extend the "
                         "run, and where it runs may change), or start a new run with --out")
    config = RunConfig(**{**saved, **{k: v for k, v in changes.items() if k in FREE_FIELDS}})
    if "epochs" in recipe_changes:
        config.recipe["epochs"] = recipe_changes["epochs"]
    return config


def _differs(given, saved) -> bool:
    # JSON turns tuples into lists: compare the JSON forms
    def plain(value):
        return [plain(v) for v in value] if isinstance(value, (list, tuple)) else value
    return plain(given) != plain(saved)


def resume_run(source, changes: dict | None = None, recipe_changes: dict | None = None,
               log: Callable[[str], None] = print) -> RunResult:
    """Continue the run whose checkpoint is ``source`` (a run folder or a ``checkpoint.npz``)
    to its last epoch (``recipe_changes={"epochs": N}`` extends it), then test it and write
    ``model.npz``; ``metrics.jsonl`` keeps the finished epochs and continues.

    Raises:
        CheckpointError: missing, damaged, not lenet_xp's, from a newer lenet_xp, not a
            resumable checkpoint (``model.npz`` holds final weights only), or not fitting.
        ValueError: a change that contradicts the checkpoint (see :func:`resume_config`).
    Nothing in the run's folder is written before all of that has been checked.
    """
    path = find_checkpoint(source)
    checkpoint = load_checkpoint(path)
    missing = [key for key in RESUME_KEYS if key not in checkpoint.meta] + (
        [] if checkpoint.optimizer_state else ["optimizer"])
    if missing:
        raise CheckpointError(f"{path} cannot be resumed: it has no {', '.join(missing)} (a "
                              f"model.npz holds final weights only; resume from the run's "
                              f"{CHECKPOINT})")
    if checkpoint.meta["model"] not in MODELS:
        raise CheckpointError(f"{path} is a checkpoint of model {checkpoint.meta['model']!r}, "
                              f"which this lenet_xp does not have ({', '.join(sorted(MODELS))})")
    config = resume_config(checkpoint.meta, path, changes or {}, recipe_changes or {})
    experiment = Experiment(config, log)
    experiment.restore(checkpoint)
    return experiment.train()
