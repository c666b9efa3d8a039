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

import json
import contextlib
from pathlib import Path
from typing import Callable

from .. import jsontext
from ..data.mnist import holds_mnist
from ..runs.checkpoint import CheckpointError, load_checkpoint
from ..runs.folder import CHECKPOINT, METRICS, MODEL
from ..runs.metrics import epoch_record, epochs_of
from .communicators import create_communicator, set_up_together
from .experiment import RESUME_KEYS, Experiment, RunConfig, RunResult
from .state import EpochStats

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
    (recipe fields) applied where allowed. The run continues in the checkpoint's folder. Its
    data comes from ``changes["data_dir"]`` (``--data-dir``), else from the checkpoint's data
    folder if that holds the four files, else from ``$LENET_XP_DATA`` or the cache: a missing
    file is never downloaded into a folder that a checkpoint names (``/etc``).

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
    if "data_dir" not in changes and not (config.data_dir and holds_mnist(config.data_dir)):
        config.data_dir = None  # $LENET_XP_DATA or the cache: never a folder a file names
    if "epochs" in recipe_changes:
        config.recipe["epochs"] = recipe_changes["epochs"]
    return config


def check_folder(checkpoint, folder: Path) -> None:
    """The run folder's other files must be the checkpoint's run, which resuming rewrites:
    its ``model.npz`` (if any) of the same run (model, configuration and recipe, ``epochs``
    aside) and of no more epochs, its ``metrics.jsonl`` (if any) beginning with the
    checkpoint's epochs. Raises CheckpointError naming what differs."""
    meta, source = checkpoint.meta, checkpoint.path
    final_path = folder / MODEL
    if final_path.exists():
        final = load_checkpoint(final_path).meta
        differences = _run_differences(meta, final)
        if differences:
            more = f" (and {len(differences) - 3} more)" if len(differences) > 3 else ""
            raise CheckpointError(f"{source} is not the checkpoint of the run in {folder}: its "
                                  f"{'; '.join(differences[:3])}{more}. Resuming would overwrite "
                                  "that run: give the checkpoint a folder of its own")
        if final.get("epoch", 0) > len(meta["history"]):
            raise CheckpointError(f"{final_path} holds {final['epoch']} epochs, the checkpoint "
                                  f"{len(meta['history'])}: resuming would replace the longer "
                                  "run with a shorter one")
    history = [epoch_record(stats) for stats in _history(meta, source)]
    recorded = epochs_of(_complete_records(folder / METRICS))
    if recorded and recorded[:len(history)] != history:
        first = next((i for i, (a, b) in enumerate(zip(recorded, history)) if a != b),
                     min(len(recorded), len(history)))
        raise CheckpointError(f"{folder / METRICS} holds other epochs than {source} (from epoch "
                              f"{first + 1} on): they are two runs, and resuming would "
                              "overwrite the metrics; give the checkpoint a folder of its own")


def _run_differences(meta: dict, final: dict) -> list[str]:
    """What makes ``final`` (a model.npz's meta) another run than ``meta`` (a checkpoint's)."""
    differences = [f"model is {meta.get('model')!r}, {MODEL}'s {final.get('model')!r}"
                   ] if meta.get("model") != final.get("model") else []
    config, other = meta.get("config", {}), final.get("config", {})
    differences += [f"{name} is {config.get(name)!r}, {MODEL}'s {other.get(name)!r}"
                    for name in sorted(config.keys() | other.keys())
                    if name not in (*FREE_FIELDS, "out", "recipe", "model") and
                    _differs(config.get(name), other.get(name))]
    recipe, other = meta.get("recipe", {}), final.get("recipe", {})
    differences += [f"recipe {name} is {recipe.get(name)!r}, {MODEL}'s {other.get(name)!r}"
                    for name in sorted(recipe.keys() | other.keys())
                    if name != "epochs" and _differs(recipe.get(name), other.get(name))]
    return differences


def _history(meta: dict, source) -> list[EpochStats]:
    try:
        return [EpochStats(**stats) for stats in meta["history"]]
    except (KeyError, TypeError) as exc:
        raise CheckpointError(f"{source}: its training history is damaged "
                              f"({type(exc).__name__}: {exc})") from None


def _complete_records(path: Path) -> list[dict]:
    """The records of a ``metrics.jsonl`` that resuming rewrites (none if there is none); a
    torn last line (a run killed as it wrote it) is left out. Raises CheckpointError for a
    file that is not a run's metrics."""
    try:
        lines = path.read_bytes().decode("utf-8").splitlines()
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not a run's metrics ({exc}): move it away to "
                              "resume") from None
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            record = jsontext.loads(line)
        except ValueError as exc:  # not JSON, or nested too deep
            if number == len(lines) and isinstance(exc, json.JSONDecodeError):
                break
            raise CheckpointError(f"{path}:{number} is not JSON: not a run's metrics; move it "
                                  "away to resume") from None
        if isinstance(record, dict):
            records.append(record)
    return records


def _differs(given, saved) -> bool:
    # JSON turns tuples into lists: compare the JSON forms
    def plain(value):
        return [plain(v) for v in value] if isinstance(value, (list, tuple)) else value
    return plain(given) != plain(saved)


def resume_run(source, changes: dict | None = None, recipe_changes: dict | None = None,
               log: Callable[[str], None] = print, comm=None) -> RunResult:
    """Continue the run whose checkpoint is ``source`` (a run folder or a ``checkpoint.npz``)
    to its last epoch (``recipe_changes={"epochs": N}`` extends it), then test it and write
    ``model.npz``; ``metrics.jsonl`` keeps the finished epochs and continues. ``comm``: as
    for :class:`Experiment` (a sweep's worker resumes alone).

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
            path = find_checkpoint(source)
            checkpoint = load_checkpoint(path)
            missing = [key for key in RESUME_KEYS if key not in checkpoint.meta] + (
                [] if checkpoint.optimizer_state else ["optimizer"])
            if missing:
                raise CheckpointError(f"{path} cannot be resumed: it has no {', '.join(missing)} "
                                      f"(a model.npz holds final weights only; resume from the "
                                      f"run's {CHECKPOINT})")
            config = resume_config(checkpoint.meta, path, changes or {}, recipe_changes or {})
            experiment = stack.enter_context(Experiment(config, log, comm))
            experiment.claim(new=False)
            check_folder(checkpoint, Path(config.out))
            experiment.restore(checkpoint)
        return experiment.train()
