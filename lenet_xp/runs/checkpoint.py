"""Checkpoints as plain ``.npz`` files (no pickle), written atomically.

Layout of the archive:

- ``param/<name>``: each model parameter (host numpy array);
- ``optim/<i>/<key>``: the optimiser's per-parameter state (momentum, Adam moments, ...);
- ``<group>/<name>``: further named arrays (a run's best weights for early stopping,
  ``best/<name>``);
- ``meta``: a JSON string: format version, model name, recipe, data settings, epoch, metrics,
  the optimiser's scalars (lr, step count), the host RNG state, the time it was written.

A file is first written beside its destination and then renamed over it
(:func:`lenet_xp.atomic.atomic_file`), so a crash mid-write never leaves a truncated
checkpoint in place of the last good one.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import zipfile
from pathlib import Path

import numpy as np

from ..atomic import atomic_file
from ..backend import to_numpy

#: Version 2 added the training state a resumed run needs (history, early stopping).
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read, or does not fit the model."""


@dataclasses.dataclass
class Checkpoint:
    params: dict          # name -> numpy array
    meta: dict
    optimizer_state: dict | None  # as Optimizer.state_dict() returns it, or None
    groups: dict = dataclasses.field(default_factory=dict)  # group -> {name: numpy array}
    path: Path | None = None


def save_checkpoint(path, model, meta: dict, optimizer=None, groups: dict | None = None) -> Path:
    """Write ``model``'s parameters (and ``optimizer``'s state, and the arrays of ``groups``,
    a dict of dicts of arrays) with ``meta`` to ``path``."""
    path = Path(path)
    arrays = {f"param/{name}": to_numpy(value) for name, value in model.state_dict().items()}
    meta = {"format_version": FORMAT_VERSION,
            "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            **meta}
    if optimizer is not None:
        state = optimizer.state_dict()
        meta["optimizer"] = {"lr": state["lr"], "iterations": state["iterations"],
                             "parameters": len(state["state"])}
        for index, per_param in enumerate(state["state"]):
            for key, value in per_param.items():
                arrays[f"optim/{index}/{key}"] = value
    for group, named in (groups or {}).items():
        if group in ("param", "optim", "meta"):
            raise ValueError(f"checkpoint group name {group!r} is reserved")
        arrays.update({f"{group}/{name}": to_numpy(value) for name, value in named.items()})
    arrays["meta"] = np.array(json.dumps(meta))
    with atomic_file(path) as file:
        np.savez(file, **arrays)
    return path


def load_checkpoint(path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`; CheckpointError says what is wrong
    (missing, damaged or truncated, not lenet_xp's, or from a newer lenet_xp)."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder: give the path of a .npz checkpoint")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except FileNotFoundError as exc:
        raise CheckpointError(f"no checkpoint at {path}") from exc
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise CheckpointError(f"{path} is not a readable lenet_xp checkpoint (corrupt or "
                              f"truncated: {exc})") from exc
    if "meta" not in arrays:
        raise CheckpointError(f"{path} has no 'meta' entry: not a lenet_xp checkpoint")
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: its 'meta' entry is not JSON: not a lenet_xp "
                              "checkpoint") from exc
    version = meta.get("format_version") if isinstance(meta, dict) else None
    if not isinstance(version, int):
        raise CheckpointError(f"{path} is not a lenet_xp checkpoint (its meta has no format "
                              "version)")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path} was written by a newer lenet_xp (checkpoint format "
                              f"{version}; this one reads {READABLE_VERSIONS[0]} to "
                              f"{FORMAT_VERSION}): upgrade lenet_xp to use it")
    if version not in READABLE_VERSIONS:
        raise CheckpointError(f"{path} has checkpoint format {version}, which this lenet_xp "
                              f"does not read ({READABLE_VERSIONS[0]} to {FORMAT_VERSION})")
    groups: dict[str, dict] = {}
    for key, value in arrays.items():
        group, _, name = key.partition("/")
        groups.setdefault(group, {})[name] = value
    params = groups.pop("param", {})
    optim = groups.pop("optim", {})
    optimizer_state = None
    if "optimizer" in meta:
        per_param = [{} for _ in range(meta["optimizer"]["parameters"])]
        for key, value in optim.items():
            index, name = key.split("/", 1)
            per_param[int(index)][name] = value
        optimizer_state = {"lr": meta["optimizer"]["lr"],
                           "iterations": meta["optimizer"]["iterations"], "state": per_param}
    return Checkpoint(params=params, meta=meta, optimizer_state=optimizer_state, groups=groups,
                      path=path)
