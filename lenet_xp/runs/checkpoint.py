"""A run's state in a file, and back: the one place that flattens, checks and reads it.

What is saved is a *state tree*, the ``state_dict()`` of every stateful object of a run
(:meth:`lenet_xp.training.experiment.Experiment.state_dict`), plain arrays and JSON:

==============  ==========================================  ==================================
part            what it holds (whose ``state_dict()``)      where format 2 keeps it
==============  ==========================================  ==================================
``model``       name -> array (the network's)               ``param/<name>``
``optimizer``   lr, iterations, per-parameter state         meta ``optimizer``,
                (the optimiser's, over its flat buffers)    ``optim/<i>/<key>``
``average``     updates, averages (the moving average's)    meta ``ema``, ``ema/<name>``
``random``      the host generator's state (Random's)       meta ``rng_state``
``training``    epoch, history, early stopping, best        meta ``epoch``, ``metrics``,
                weights (the training state's)              ``history``, ``early_stopping``,
                                                            ``best/<name>``
==============  ==========================================  ==================================

beside a ``meta`` of the run (model name, configuration, recipe, data settings) and the
format version and time of writing. A ``model.npz`` holds the ``model`` part alone; a
``checkpoint.npz`` all of them (:meth:`Checkpoint.require_resumable`).

Files are ``.npz`` archives without pickles (:mod:`lenet_xp.runs.archive` reads them without
trusting them: every entry's declared shape is checked against the model, built without
drawing weights, before any is read), written beside their destination and then renamed
over it (:func:`lenet_xp.atomic.atomic_file`), so a crash mid-write never leaves a truncated
checkpoint in place of the last good one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from .. import jsontext
from ..atomic import atomic_file
from ..backend import to_numpy
from ..models import MODELS, get_model
from .archive import Archive, ArchiveError, Entry

#: the largest meta entry read (JSON: recipe, configuration, the history of every epoch)
MAX_META_BYTES = 16 << 20
#: the most array bytes read from a checkpoint that names no zoo model (a network saved by
#: hand, whose shapes nothing here knows); a zoo model's checkpoint holds exactly its shapes
MAX_UNNAMED_BYTES = 1 << 30

#: Version 2 added the training state a resumed run needs (history, early stopping).
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)

#: the meta entries a run needs to continue: its own (model, configuration, recipe) and those
#: of the parts of its state beside the weights (random, training, optimizer)
RESUME_ENTRIES = ("model", "config", "recipe", "rng_state", "history", "early_stopping",
                  "optimizer")

#: the JSON kind of each meta entry that lenet_xp reads, where a meta has it; and of the
#: entries of its ``config`` and ``data`` that scripts read
META_KINDS = {"model": "text", "written": "text", "lenet_xp_version": "text",
              "epoch": "a whole number", "test_loss": "a number", "test_accuracy": "a number",
              "config": "an object", "recipe": "an object", "data": "an object",
              "optimizer": "an object", "rng_state": "an object", "history": "a list",
              "early_stopping": "an object", "ema": "an object", "metrics": "an object or null"}
CONFIG_KINDS = {"dtype": "text", "seed": "a whole number", "val_size": "a whole number",
                "data_dir": "text or null"}
DATA_KINDS = {"normalisation": "text", "input_size": "a whole number",
              "pixel_stats": "an object or null"}


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read, or does not fit the model."""


@dataclasses.dataclass
class Checkpoint:
    """A file read back: its ``meta`` and its ``state`` tree (host arrays), from ``path``."""

    meta: dict
    state: dict
    path: Path | None = None

    @property
    def params(self) -> dict:
        """The model's arrays (name -> numpy array)."""
        return self.state["model"]

    @property
    def optimizer_state(self) -> dict | None:
        """The optimiser's state as ``Optimizer.load_state_dict`` takes it, or None."""
        return self.state.get("optimizer")

    def require_resumable(self) -> None:
        """Raise CheckpointError unless a run can continue from this file: it has every meta
        entry of :data:`RESUME_ENTRIES` (a ``model.npz`` holds final weights only)."""
        missing = [key for key in RESUME_ENTRIES if key not in self.meta]
        if missing:
            raise CheckpointError(f"{self.path} cannot be resumed: it has no "
                                  f"{', '.join(missing)} (a model.npz holds final weights only; "
                                  "resume from the run's checkpoint.npz)")


def save_state(path, state: dict, meta: dict) -> Path:
    """Write the state tree ``state`` (its parts: see the module's table; any may be left out
    but ``model``) with the run's ``meta`` to ``path``, atomically."""
    path = Path(path)
    arrays, entries = _flatten(state)
    meta = {"format_version": FORMAT_VERSION,
            "written": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            **meta, **entries}
    arrays["meta"] = np.array(json.dumps(meta))
    with atomic_file(path) as file:
        np.savez(file, **arrays)
    return path


def save_checkpoint(path, model, meta: dict, optimizer=None) -> Path:
    """Write ``model``'s arrays (and ``optimizer``'s state) with ``meta`` to ``path``: a
    :func:`save_state` of the parts ``model`` and ``optimizer``."""
    state = {"model": model.state_dict()}
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    return save_state(path, state, meta)


def _flatten(state: dict) -> tuple[dict, dict]:
    """The state tree as format 2's archive entries (name -> host array) and meta entries."""
    arrays = {f"param/{name}": to_numpy(value) for name, value in state["model"].items()}
    meta: dict[str, Any] = {}
    optimizer = state.get("optimizer")
    if optimizer is not None:
        meta["optimizer"] = {"lr": optimizer["lr"], "iterations": optimizer["iterations"],
                             "parameters": len(optimizer["state"])}
        arrays.update({f"optim/{index}/{key}": to_numpy(value)
                       for index, per_param in enumerate(optimizer["state"])
                       for key, value in per_param.items()})
    average = state.get("average")
    if average is not None:
        meta["ema"] = {"updates": average["updates"]}
        arrays.update({f"ema/{name}": to_numpy(value)
                       for name, value in average["averages"].items()})
    if "random" in state:
        meta["rng_state"] = state["random"]
    training = state.get("training")
    if training is not None:
        history = training["history"]
        meta.update(epoch=training["epoch"], metrics=history[-1] if history else None,
                    history=history, early_stopping=training["early_stopping"])
        arrays.update({f"best/{name}": to_numpy(value)
                       for name, value in (training.get("best") or {}).items()})
    return arrays, meta


def _unflatten(path: Path, meta: dict, arrays: dict, parameters: int) -> dict:
    """The state tree of format 2's archive entries and meta (see :func:`_flatten`); the parts
    a file lacks are left out."""
    groups: dict[str, dict] = {}
    for key, value in arrays.items():
        group, _, name = key.partition("/")
        groups.setdefault(group, {})[name] = value
    state: dict = {"model": groups.get("param", {})}
    if "optimizer" in meta:
        state["optimizer"] = _optimizer_state(path, meta, groups.get("optim", {}), parameters)
    if "ema" in meta:
        ema = meta["ema"]
        state["average"] = {"updates": ema.get("updates") if isinstance(ema, dict) else None,
                            "averages": groups.get("ema", {})}
    if "rng_state" in meta:
        state["random"] = meta["rng_state"]
    if "history" in meta or "early_stopping" in meta:
        state["training"] = {"epoch": meta.get("epoch"), "history": meta.get("history"),
                             "early_stopping": meta.get("early_stopping")}
        if "best" in groups:
            state["training"]["best"] = groups["best"]
    return state


def _read_meta(path: Path, archive: Archive) -> dict:
    """The checkpoint's meta (format version checked), read after its declared size."""
    entry = archive.entries.get("meta")
    if entry is None:
        raise CheckpointError(f"{path} has no 'meta' entry: not a lenet_xp file")
    if entry.dtype.kind != "U" or entry.shape != ():
        raise CheckpointError(f"{path}: its meta entry is {entry.describe()}, not text: not a "
                              "lenet_xp file")
    if entry.nbytes > MAX_META_BYTES:
        raise CheckpointError(f"{path}: its meta entry is declared {entry.nbytes:,} bytes, more "
                              f"than a lenet_xp checkpoint's ({MAX_META_BYTES:,}): not a "
                              "lenet_xp file")
    try:
        meta: Any = jsontext.loads(str(archive.read("meta")))
    except jsontext.TooDeep as exc:
        raise CheckpointError(f"{path}: its 'meta' entry is {exc}: not a lenet_xp "
                              "file") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: its 'meta' entry is not JSON: not a lenet_xp "
                              "file") from exc
    version = meta.get("format_version") if isinstance(meta, dict) else None
    if not isinstance(version, int):
        raise CheckpointError(f"{path} is not a lenet_xp file (its meta has no format "
                              "version)")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path} was written by a newer lenet_xp (checkpoint format "
                              f"{version}; this one reads {READABLE_VERSIONS[0]} to "
                              f"{FORMAT_VERSION}): upgrade lenet_xp to use it")
    if version not in READABLE_VERSIONS:
        raise CheckpointError(f"{path} has checkpoint format {version}, which this lenet_xp "
                              f"does not read ({READABLE_VERSIONS[0]} to {FORMAT_VERSION})")
    _check_meta(path, meta)
    return meta


def _check_meta(path: Path, meta: dict) -> None:
    """The kinds of the meta entries lenet_xp reads (:data:`META_KINDS`, and of ``config``
    and ``data``'s)."""
    tables: list[tuple[str, dict[str, str], dict]] = [("", META_KINDS, meta)]
    tables += [(f"{key}.", kinds, meta[key]) for key, kinds in
               (("config", CONFIG_KINDS), ("data", DATA_KINDS)) if isinstance(meta.get(key), dict)]
    for prefix, kinds, entries in tables:
        for key, kind in kinds.items():
            if key in entries and not _is(entries[key], kind):
                raise CheckpointError(f"{path}: its meta's {prefix}{key} is "
                                      f"{_kind(entries[key])}, not {kind}: the file is damaged "
                                      "or not lenet_xp's")


def _check_data(path: Path, meta: dict) -> None:
    """The meta's ``data``: how the model's inputs are prepared, which a zoo model fixes (an
    input size of a million would pad each digit to 4 TB), and finite pixel statistics."""
    data, spec = meta.get("data") or {}, MODELS.get(str(meta.get("model")))
    for key in ("normalisation", "input_size"):
        if spec is not None and key in data and data[key] != getattr(spec, key):
            raise CheckpointError(f"{path}: its meta's data.{key} is {data[key]!r:.40}, where the "
                                  f"{spec.name} model has {getattr(spec, key)!r}: the file is "
                                  "damaged or not lenet_xp's")
    stats = data.get("pixel_stats")
    if stats is not None and not (stats.keys() == {"mean", "std"} and all(
            _is(value, "a number") and math.isfinite(value) for value in stats.values())
            and stats["std"] > 0):
        raise CheckpointError(f"{path}: its meta's data.pixel_stats is {stats!r:.80}, not a "
                              "finite mean and a positive std: the file is damaged or not "
                              "lenet_xp's")


def _kind(value) -> str:
    """A JSON value's kind, in words."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    return {str: "text", int: "a whole number", float: "a number", dict: "an object",
            list: "a list"}[type(value)]


def _is(value, kind: str) -> bool:
    """Whether a JSON value is of ``kind`` (a whole number is a number too)."""
    return _kind(value) in {"a number": ("a number", "a whole number"),
                            "an object or null": ("an object", "null"),
                            "text or null": ("text", "null")}.get(kind, (kind,))


def _check_entries(path: Path, meta: dict, entries: dict[str, Entry]) -> int:
    """Every entry's declared shape and kind against the zoo model the meta names, before
    any is read: ``param/<name>`` and the other groups (``best/<name>``, ...) hold the model's
    state entries, ``optim/<i>/<key>`` the optimiser's state of its i-th parameter. A
    checkpoint that names no model (a network saved by hand) may declare up to
    :data:`MAX_UNNAMED_BYTES` in all. Returns the model's number of parameters."""
    name = meta.get("model")
    if name is None:  # a network built by hand, not a zoo model: its size alone is checked
        declared = sum(entry.nbytes for entry in entries.values())
        if declared > MAX_UNNAMED_BYTES:
            raise CheckpointError(f"{path} declares {declared:,} bytes of arrays, more than "
                                  f"the {MAX_UNNAMED_BYTES:,} read from a checkpoint that names "
                                  "no model")
        return sum(1 for key in entries if key.startswith("param/"))
    if name not in MODELS:
        raise CheckpointError(f"{path} holds model {name!r}, which this lenet_xp does not have "
                              f"({', '.join(sorted(MODELS))})")
    dtype = meta.get("config", {}).get("dtype", "float32")
    network = get_model(name).skeleton(dtype if dtype in ("float32", "float64") else "float32")
    state = {key: (tuple(value.shape), value.dtype.kind)
             for key, value in network.state_dict().items()}  # built on the host: numpy
    params = [state[key] for key in network.parameters()]
    problems = []
    for entry_name, entry in entries.items():
        group, _, rest = entry_name.partition("/")
        if group == "meta":
            continue
        if group == "optim":
            index, _, key = rest.partition("/")
            expected = params[int(index)] if index.isdigit() and int(index) < len(params) \
                and key else None
        else:
            expected = state.get(rest)
        if expected is None:
            problems.append(f"{entry_name} is not an entry of the {name} model")
        elif (entry.shape, entry.dtype.kind) != expected:
            problems.append(f"{entry_name} is declared {entry.describe()}, the {name} model "
                            f"has {expected[0]}")
    missing = [key for key in state if f"param/{key}" not in entries]
    if missing:
        problems.append(f"it has no param/{', param/'.join(missing)}")
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise CheckpointError(f"{path} does not fit the {name} model: "
                              f"{'; '.join(problems[:3])}{more}")
    return len(params)


def _optimizer_state(path: Path, meta: dict, optim: dict, parameters: int) -> dict:
    """The optimiser's state as ``Optimizer.load_state_dict`` takes it, its scalars checked."""
    scalars = meta["optimizer"]
    if not (isinstance(scalars, dict) and scalars.get("parameters") == parameters
            and isinstance(scalars.get("iterations"), int) and scalars["iterations"] >= 0
            and isinstance(scalars.get("lr"), (int, float)) and math.isfinite(scalars["lr"])
            and scalars["lr"] > 0):
        raise CheckpointError(f"{path}: its optimiser state {scalars!r} does not fit the "
                              f"{meta['model']} model ({parameters} parameters): the file is "
                              "damaged")
    per_param: list[dict[str, Any]] = [{} for _ in range(parameters)]
    for key, value in optim.items():
        index, name = key.split("/", 1)
        per_param[int(index)][name] = value
    return {"lr": scalars["lr"], "iterations": scalars["iterations"], "state": per_param}


def _check_finite(path: Path, arrays: dict) -> None:
    """Refuse NaN and infinity in any array (weights, optimiser state, best weights)."""
    bad = []
    for name, array in arrays.items():
        if array.dtype.kind == "f":
            count = array.size - int(np.count_nonzero(np.isfinite(array)))
            if count:
                bad.append(f"{name} ({count:,} of {array.size:,})")
    if bad:
        raise CheckpointError(f"{path} holds non-finite numbers (NaN or infinity) in "
                              f"{', '.join(bad)}: the run diverged or the file is damaged; "
                              "use another checkpoint")


def read_meta(path) -> dict:
    """A checkpoint's meta alone (the run's model, configuration, recipe, history), its
    format version checked, without reading or checking its arrays: for what needs the run's
    settings and not its weights. CheckpointError as for :func:`load_checkpoint`."""
    path = Path(path)
    with _open(path) as archive:
        return _read_meta(path, archive)


@contextlib.contextmanager
def _open(path: Path):
    """The checkpoint's :class:`Archive`; a folder, a missing file or one that cannot be read
    as an archive (here or while reading its entries) is a CheckpointError."""
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder: give the path of a .npz checkpoint")
    try:
        with Archive(path) as archive:
            yield archive
    except FileNotFoundError as exc:
        raise CheckpointError(f"no checkpoint at {path}") from exc
    except OSError as exc:
        raise CheckpointError(f"cannot read {path} ({exc.strerror or exc})") from exc
    except ArchiveError as exc:
        raise CheckpointError(f"{path} is not a readable lenet_xp file: {exc}") from None


def load_checkpoint(path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`; CheckpointError says what is wrong:
    missing, damaged or truncated, not lenet_xp's, from a newer lenet_xp, of a model this
    lenet_xp does not have, with entries that do not fit that model (checked from their
    headers, before any is read; see :func:`_check_entries`), a meta whose entries are not
    what lenet_xp writes (:func:`_check_meta`, :func:`_check_data`), or with weights that are
    not finite."""
    path = Path(path)
    with _open(path) as archive:
        meta = _read_meta(path, archive)
        parameters = _check_entries(path, meta, archive.entries)
        _check_data(path, meta)
        arrays = {name: archive.read(name) for name in archive.entries if name != "meta"}
    _check_finite(path, arrays)
    return Checkpoint(meta=meta, state=_unflatten(path, meta, arrays, parameters), path=path)
