"""Checkpoints as plain ``.npz`` files (no pickle), written atomically.

Layout of the archive:

- ``param/<name>``: each model parameter (host numpy array);
- ``optim/<i>/<key>``: the optimiser's per-parameter state (momentum, Adam moments, ...);
- ``meta``: a JSON string: format version, model name, recipe, data settings, epoch, metrics,
  the optimiser's scalars (lr, step count) and the host RNG state.

A file is first written beside its destination and then renamed over it (``os.replace``), so
a crash mid-write never leaves a truncated checkpoint in place of the last good one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .backend import to_numpy

FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read, or does not fit the model."""


@dataclasses.dataclass
class Checkpoint:
    params: dict          # name -> numpy array
    meta: dict
    optimizer_state: dict | None  # as Optimizer.state_dict() returns it, or None


def save_checkpoint(path, model, meta: dict, optimizer=None) -> Path:
    """Write ``model``'s parameters (and ``optimizer``'s state) with ``meta`` to ``path``."""
    path = Path(path)
    arrays = {f"param/{name}": to_numpy(value) for name, value in model.state_dict().items()}
    meta = {"format_version": FORMAT_VERSION, **meta}
    if optimizer is not None:
        state = optimizer.state_dict()
        meta["optimizer"] = {"lr": state["lr"], "iterations": state["iterations"],
                             "parameters": len(state["state"])}
        for index, per_param in enumerate(state["state"]):
            for key, value in per_param.items():
                arrays[f"optim/{index}/{key}"] = value
    arrays["meta"] = np.array(json.dumps(meta))
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`; CheckpointError says what is wrong."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except FileNotFoundError as exc:
        raise CheckpointError(f"no checkpoint at {path}") from exc
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise CheckpointError(f"{path} is not a readable lenet_xp checkpoint (corrupt or truncated: {exc})") from exc
    if "meta" not in arrays:
        raise CheckpointError(f"{path} has no 'meta' entry: not a lenet_xp checkpoint")
    meta = json.loads(str(arrays.pop("meta")))
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path} has format version {meta.get('format_version')}, "
                              f"this lenet_xp reads version {FORMAT_VERSION}")
    params = {key[len("param/"):]: value for key, value in arrays.items() if key.startswith("param/")}
    optimizer_state = None
    if "optimizer" in meta:
        per_param = [{} for _ in range(meta["optimizer"]["parameters"])]
        for key, value in arrays.items():
            if key.startswith("optim/"):
                _, index, name = key.split("/", 2)
                per_param[int(index)][name] = value
        optimizer_state = {"lr": meta["optimizer"]["lr"],
                           "iterations": meta["optimizer"]["iterations"], "state": per_param}
    return Checkpoint(params=params, meta=meta, optimizer_state=optimizer_state)
