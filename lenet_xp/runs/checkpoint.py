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

import contextlib
import dataclasses
import datetime
import json
import math
from pathlib import Path

import numpy as np

from .. import jsontext
from ..atomic import atomic_file
from ..backend import Random, to_numpy
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
        meta = jsontext.loads(str(archive.read("meta")))
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
    tables = [("", META_KINDS, meta)]
    tables += [(f"{key}.", kinds, meta.get(key)) for key, kinds in
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
    data, spec = meta.get("data") or {}, MODELS.get(meta.get("model"))
    for key in ("normalisation", "input_size") if spec is not None else ():
        if key in data and data[key] != getattr(spec, key):
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
    network = get_model(name).build(Random(0), dtype if dtype in ("float32", "float64") else
                                     "float32")
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


def _optimizer_state(path: Path, meta: dict, optim: dict, parameters: int) -> dict | None:
    """The optimiser's state as ``Optimizer.load_state_dict`` takes it (None if the file has
    none, as ``model.npz``), its scalars checked."""
    if "optimizer" not in meta:
        return None
    scalars = meta["optimizer"]
    if not (isinstance(scalars, dict) and scalars.get("parameters") == parameters
            and isinstance(scalars.get("iterations"), int) and scalars["iterations"] >= 0
            and isinstance(scalars.get("lr"), (int, float)) and math.isfinite(scalars["lr"])
            and scalars["lr"] > 0):
        raise CheckpointError(f"{path}: its optimiser state {scalars!r} does not fit the "
                              f"{meta['model']} model ({parameters} parameters): the file is "
                              "damaged")
    per_param = [{} for _ in range(parameters)]
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
    groups: dict[str, dict] = {}
    for key, value in arrays.items():
        group, _, name = key.partition("/")
        groups.setdefault(group, {})[name] = value
    params = groups.pop("param", {})
    optimizer_state = _optimizer_state(path, meta, groups.pop("optim", {}), parameters)
    return Checkpoint(params=params, meta=meta, optimizer_state=optimizer_state, groups=groups,
                      path=path)
