"""Experiment sweeps: every combination of a grid of models × recipe values × seeds, each an
independent training run, and a table of the results.

A grid file (TOML or JSON) says what to run::

    name = "learning_rate"
    description = "Adam's initial learning rate, lenet5, 5 epochs"
    models = ["lenet5"]
    seeds = [0, 1, 2]
    [recipe]                  # fixed changes to every model's recipe
    epochs = 5
    [grid]                    # swept: every combination of these values
    lr = [5e-4, 1e-3, 2e-3, 5e-3]
    [run]                     # RunConfig settings for every run (optional)
    val_size = 5000

:func:`plan` expands it into :class:`SweepRun` s (one output folder each under the sweep's
folder), :func:`run_one` trains one of them (in a worker process, on one CPU thread) and
:func:`summarise` turns the finished runs into one row per configuration (mean ± sample std
over the seeds). ``scripts/sweep.py`` schedules the runs on a process pool or on MPI ranks and
writes ``results.md``, ``results.csv`` and ``curves.png``. A run whose folder holds its final
``model.npz`` (:mod:`lenet_xp.runs.folder`) is finished and is not run again; one that stopped
before its end (a ``checkpoint.npz`` only) continues from its checkpoint.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
import math
import re
import statistics
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10 has no tomllib: the same parser, published as tomli (a dependency there)
    import tomli as tomllib

from ..models import get_model
from ..runs.folder import CHECKPOINT, METRICS, MODEL
from ..runs.metrics import epochs_of, last_test, read_metrics
from ..training.communicators import SingleProcess
from ..training.config import RunConfig
from ..training.experiment import run as train
from ..training.resume import resume_run

GRID_KEYS = {"name", "description", "models", "seeds", "recipe", "grid", "run"}
#: a grid names at least one of these (an empty file is a mistake, not the default run)
WHAT_TO_RUN = {"models", "seeds", "recipe", "grid"}
#: RunConfig settings (flat keys) a grid's [run] table may set (what is swept goes in [grid]
#: or [recipe])
RUN_KEYS = {"val_size", "train_limit", "dtype", "device", "verify", "download"}
#: a grid's name, which is its folder under runs/sweeps/: a plain folder name, never a path
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
#: the most runs a grid may make unless told more (``scripts/sweep.py --max-runs``): the
#: runs are counted before any is expanded (a grid of 10^7 was silent after 60 s, 523 MB)
MAX_RUNS = 1000


class GridError(ValueError):
    """A grid file that cannot be read or describes no valid runs."""


@dataclasses.dataclass(frozen=True)
class Grid:
    name: str
    description: str
    models: tuple[str, ...]
    seeds: tuple[int, ...]
    recipe: dict
    grid: dict  # recipe field -> list of values
    run: dict


@dataclasses.dataclass(frozen=True)
class SweepRun:
    """One training run of a sweep: ``model`` with ``recipe`` changes and ``seed``, in ``out``.

    ``values`` are the swept values of this run's configuration (its row in the table)."""

    model: str
    values: tuple[tuple[str, object], ...]
    seed: int
    recipe: dict
    run: dict
    out: str

    @property
    def configuration(self) -> tuple:
        return (self.model, self.values)

    @property
    def label(self) -> str:
        return " ".join([self.model, *(f"{k}={_text(v)}" for k, v in self.values)])


def load_grid(path, max_runs: int = MAX_RUNS) -> Grid:
    """Read a grid file (``.toml`` or ``.json``, UTF-8) of at most ``max_runs`` runs;
    GridError names the file and what is wrong with it."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise GridError(f"cannot read the grid file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise GridError(f"{path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
                        f"position {exc.start}): a grid file is TOML or JSON, saved as "
                        "UTF-8") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise GridError(f"{path} is not valid {'JSON' if path.suffix == '.json' else 'TOML'}: "
                        f"{exc}") from None
    except RecursionError:
        raise GridError(f"{path} nests deeper than Python reads: a grid file is a few flat "
                        "tables (sweeps/*.toml are examples)") from None
    try:
        return parse_grid(data, default_name=path.stem, max_runs=max_runs)
    except GridError as exc:
        raise GridError(f"{path}: {exc}") from None


def parse_grid(data: dict, default_name: str = "sweep", max_runs: int = MAX_RUNS) -> Grid:
    """A :class:`Grid` from a grid file's contents, checked (a plain folder name, every
    model known, at most ``max_runs`` runs, counted before any is made, every recipe
    combination valid, something to run); GridError lists the problems."""
    if not isinstance(data, dict):
        raise GridError("a grid file holds a table (TOML) or an object (JSON)")
    problems = [f"unknown key {key!r} (use {', '.join(sorted(GRID_KEYS))})"
                for key in data if key not in GRID_KEYS]
    if not data.keys() & WHAT_TO_RUN:
        problems.append("it says nothing to run: name its models, seeds, [recipe] or [grid] "
                        "(sweeps/*.toml are examples)")
    models = data.get("models", ["lenet5"])
    seeds = data.get("seeds", [0])
    recipe, grid, run = data.get("recipe", {}), data.get("grid", {}), data.get("run", {})
    if not (isinstance(models, list) and models and all(isinstance(m, str) for m in models)):
        problems.append("models must be a non-empty list of model names")
        models = []
    if not (isinstance(seeds, list) and seeds and all(isinstance(s, int) for s in seeds)):
        problems.append("seeds must be a non-empty list of integers")
    for table, name in ((recipe, "recipe"), (grid, "grid"), (run, "run")):
        if not isinstance(table, dict):
            problems.append(f"[{name}] must be a table of key = value")
    if isinstance(grid, dict):
        problems += [f"[grid] {key} must be a non-empty list of values"
                     for key, values in grid.items() if not (isinstance(values, list) and values)]
        problems += [f"{key} is both in [recipe] and in [grid]"
                     for key in grid if isinstance(recipe, dict) and key in recipe]
    if isinstance(run, dict):
        problems += [f"[run] {key} is not one of {', '.join(sorted(RUN_KEYS))}"
                     for key in run if key not in RUN_KEYS]
    name = data.get("name", default_name)
    if not (isinstance(name, str) and NAME.fullmatch(name)):
        problems.append(f"name {name!r} is not a plain folder name (letters, digits, '.', '_' "
                        "and '-', not first '.' or '-'): it names the sweep's folder, "
                        "runs/sweeps/NAME")
    if problems:
        raise GridError("bad grid: " + "; ".join(problems))
    count = len(models) * len(seeds) * math.prod(len(values) for values in grid.values())
    if count > max_runs:
        raise GridError(f"bad grid: it makes {count:,} runs (models x [grid] values x seeds), "
                        f"more than the {max_runs:,} a sweep runs unless told: make it smaller, "
                        f"or allow them with --max-runs {count}")
    result = Grid(name, str(data.get("description", "")), tuple(models), tuple(seeds),
                  dict(recipe), dict(grid), dict(run))
    _check_recipes(result)
    return result


def _check_recipes(grid: Grid) -> None:
    problems = []
    for model in grid.models:
        try:
            spec = get_model(model)
        except KeyError as exc:
            problems.append(exc.args[0])
            continue
        for values in _combinations(grid):
            try:
                recipe = spec.recipe.replace(**grid.recipe, **dict(values))
                if recipe.init != "default" and not spec.takes_init:
                    raise ValueError(f"model {model!r} has its own initialisation")
            except ValueError as exc:
                problems.append(f"{model} with {dict(values) or 'the fixed recipe'}: {exc}")
    if problems:
        raise GridError("bad grid: " + "; ".join(dict.fromkeys(problems)))


def _combinations(grid: Grid) -> list[tuple[tuple[str, object], ...]]:
    keys = list(grid.grid)
    return [tuple(zip(keys, values, strict=True)) for values in itertools.product(*grid.grid.values())]


def _text(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def plan(grid: Grid, out) -> list[SweepRun]:
    """Every run of ``grid``: models × combinations of the [grid] values × seeds, each in its
    own folder ``out/<model>[-key=value...]-seed<seed>`` (``/`` and ``:`` become ``_``)."""
    runs = []
    for model in grid.models:
        for values in _combinations(grid):
            for seed in grid.seeds:
                name = "-".join([model, *(f"{k}={_text(v)}" for k, v in values), f"seed{seed}"])
                runs.append(SweepRun(model, values, seed, {**grid.recipe, **dict(values)},
                                     dict(grid.run), str(Path(out) / name.replace("/", "_").replace(":", "_"))))
    return runs


def is_finished(run: SweepRun) -> bool:
    return (Path(run.out) / MODEL).is_file()


def run_one(run: SweepRun, data_dir: str | None) -> dict:
    """Train ``run`` on one CPU thread (a worker's share of the machine) unless it has
    finished already, continuing it from its checkpoint where it stopped before its end;
    return :func:`outcome`. Exceptions are returned as a failed outcome."""
    if not is_finished(run):
        where: dict[str, Any] = {"data_dir": data_dir, "progress": False, "threads": 1}
        try:  # alone, even on an MPI rank
            if (Path(run.out) / CHECKPOINT).is_file():
                resume_run(run.out, {**run.run, **where}, dict(run.recipe), log=_quiet,
                           comm=SingleProcess())
            else:
                flat = {"model": run.model, "seed": run.seed, "out": run.out, **run.run, **where}
                train(RunConfig.from_dict(flat, dict(run.recipe)), log=_quiet,
                      comm=SingleProcess())
        except Exception as exc:  # noqa: BLE001 (any failure is reported; the other runs go on)
            return {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    return outcome(run)


def _quiet(line: str) -> None:
    """Runs of a sweep print nothing: their metrics.jsonl says it all."""


#: how many final epochs' validation errors are averaged to choose a recipe (docs/results.md)
RECENT_EPOCHS = 3


def outcome(run: SweepRun) -> dict:
    """A finished run's figures from its ``metrics.jsonl``: test error, the last validation
    error and the mean of the last :data:`RECENT_EPOCHS` (what a recipe is chosen by), epochs
    and median seconds per epoch."""
    records = read_metrics(Path(run.out) / METRICS)
    epochs, test = epochs_of(records), last_test(records)
    if test is None:
        return {"status": "failed", "error": f"the run has no test result in {METRICS}"}
    val = [1 - r["val_accuracy"] for r in epochs if r.get("val_accuracy") is not None]
    return {"status": "done", "test_error": 1 - test["test_accuracy"],
            "val_error": val[-1] if val else None,
            "recent_val_error": statistics.fmean(val[-RECENT_EPOCHS:]) if val else None,
            "epochs": len(epochs),
            "epoch_seconds": statistics.median(r["seconds"] for r in epochs)}


@dataclasses.dataclass(frozen=True)
class Row:
    """One configuration of a sweep over its seeds."""

    model: str
    values: tuple
    seeds: int
    failed: int
    test_error: tuple[float, float] | None  # (mean, sample std; 0 for one seed)
    val_error: tuple[float, float] | None
    recent_val_error: tuple[float, float] | None  # the last RECENT_EPOCHS epochs' mean
    epochs: int | None
    epoch_seconds: float | None


def summarise(runs: list[SweepRun], outcomes: list[dict]) -> list[Row]:
    """One :class:`Row` per configuration, in the grid's order."""
    groups: dict[tuple, list[dict]] = {}
    for run, result in zip(runs, outcomes, strict=True):
        groups.setdefault(run.configuration, []).append(result)
    rows = []
    for (model, values), results in groups.items():
        done = [r for r in results if r["status"] == "done"]
        rows.append(Row(model, values, len(done), len(results) - len(done),
                        _mean_std([r["test_error"] for r in done]),
                        _mean_std([r["val_error"] for r in done if r["val_error"] is not None]),
                        _mean_std([r["recent_val_error"] for r in done
                                   if r["recent_val_error"] is not None]),
                        max((r["epochs"] for r in done), default=None),
                        statistics.median(r["epoch_seconds"] for r in done) if done else None))
    return rows


def _mean_std(values: list[float]) -> tuple[float, float] | None:
    if not values:
        return None
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _percent(pair) -> str:
    return "—" if pair is None else f"{100 * pair[0]:.2f} ± {100 * pair[1]:.2f}"


def markdown_table(grid: Grid, rows: list[Row]) -> str:
    """The results as a Markdown table: test error, last validation error and the mean of the
    last :data:`RECENT_EPOCHS` validation errors in %, mean ± std over the seeds. The lowest of
    the last column is bold: the configuration that the validation split chooses (the test
    column is there to read afterwards, never to choose by)."""
    keys = list(grid.grid)
    head = ["model", *keys, "seeds", "test error %", "val error %",
            f"val, last {RECENT_EPOCHS} epochs %", "epochs run", "s/epoch"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    best = min((r.recent_val_error[0] for r in rows if r.recent_val_error), default=None)
    for row in rows:
        recent = _percent(row.recent_val_error)
        if row.recent_val_error and row.recent_val_error[0] == best and len(rows) > 1:
            recent = f"**{recent}**"
        seeds = f"{row.seeds}" + (f" ({row.failed} failed)" if row.failed else "")
        cells = [row.model, *(_text(v) for _, v in row.values), seeds,
                 _percent(row.test_error), _percent(row.val_error), recent, str(row.epochs or "—"),
                 "—" if row.epoch_seconds is None else f"{row.epoch_seconds:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def csv_table(grid: Grid, rows: list[Row]) -> str:
    """The results as CSV, errors as fractions (mean and std columns)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model", *grid.grid, "seeds", "failed", "test_error_mean", "test_error_std",
                     "val_error_mean", "val_error_std", "recent_val_error_mean",
                     "recent_val_error_std", "epochs_run", "epoch_seconds"])
    for row in rows:
        test = row.test_error or ("", "")
        val = row.val_error or ("", "")
        recent = row.recent_val_error or ("", "")
        writer.writerow([row.model, *(v for _, v in row.values), row.seeds, row.failed, *test,
                         *val, *recent, row.epochs or "", "" if row.epoch_seconds is None
                         else f"{row.epoch_seconds:.3f}"])
    return buffer.getvalue()


def failures(runs: list[SweepRun], outcomes: list[dict]) -> list[str]:
    """``label seed N: error`` for every run that failed."""
    return [f"{run.label} seed {run.seed}: {result['error']}"
            for run, result in zip(runs, outcomes, strict=True) if result["status"] != "done"]


def curves_by_configuration(runs: list[SweepRun], outcomes: list[dict]) -> dict[str, list]:
    """label -> the metrics records of the configuration's first finished seed (for
    :func:`lenet_xp.runs.curves.plot_runs`)."""
    curves = {}
    for run, result in zip(runs, outcomes, strict=True):
        if result["status"] == "done" and run.label not in curves:
            curves[run.label] = read_metrics(Path(run.out) / METRICS)
    return curves
