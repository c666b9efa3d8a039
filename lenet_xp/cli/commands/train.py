"""Train a lenet_xp model on MNIST, or continue a run that was stopped.

    python scripts/train.py --data-dir ../shared/data/mnist            # modern LeNet-5, CPU
    python scripts/train.py --device cuda --data-dir ~/mnist           # on an NVIDIA GPU
    python scripts/train.py --model lenet5 --epochs 3 --lr 1e-3 --recipe schedule=constant
    python scripts/train.py --resume runs/lenet5                       # after a crash or kill
    python scripts/train.py --resume runs/lenet5 --epochs 15           # train 5 epochs more
    python scripts/train.py --ranks 1 --data-dir ../shared/data/mnist  # one process, no MPI
    mpiexec -n 8 -hosts a,b python scripts/train.py --device cuda ...  # 8 GPUs on two hosts

Flags left out take the model's default recipe (``--list-models`` shows them). With
``--resume`` everything comes from the checkpoint; only ``--epochs`` and where the run goes
(device, ranks, threads, data folder, progress bars, plots) may be given. On a CPU with
several cores and MPI installed, the run is launched on MPI ranks where each gets enough of
every batch to gain (``--ranks auto``, the default: lenet_xp.training.placement), and says
so first. Every flag but --resume, --overwrite, --list-models and --recipe sets a setting of
lenet_xp.training.config.RunConfig, declared there with its help and default.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lenet_xp.backend import DeviceError, get_backend
from lenet_xp.cli.argtypes import recipe_setting
from lenet_xp.cli.flags import add_flags, given
from lenet_xp.cli.mpi_launch import (
    guard_rank,
    launch_command,
    run_on_ranks,
    under_launcher,
    without_option,
)
from lenet_xp.cli.rank_watch import RankLost
from lenet_xp.cli.signals import exit_code, stopping_on_signals
from lenet_xp.data import DataError
from lenet_xp.models import MODELS
from lenet_xp.models.recipe import Recipe
from lenet_xp.runs.checkpoint import CheckpointError, read_meta
from lenet_xp.runs.folder import CHECKPOINT
from lenet_xp.settings import leaves
from lenet_xp.training.communicators import abort_all, launched_rank, launched_ranks, reports_error
from lenet_xp.training.config import IO, RunConfig, resume_changes
from lenet_xp.training.experiment import run
from lenet_xp.training.placement import Placement
from lenet_xp.training.resume import find_checkpoint, resume_run
from lenet_xp.training.trainer import TrainingDiverged


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The flags: one per setting of lenet_xp.training.config.RunConfig that has one (its help
    text and default are declared there), and those of this script."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_flags(parser, [leaf for leaf in leaves(RunConfig) if len(leaf.path) == 1])
    parser.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN (or from "
                        "the checkpoint file RUN) after its last finished epoch")
    parser.add_argument("--overwrite", action="store_true", help="replace the run that the --out "
                        "folder holds (its files are deleted once this run is ready to start)")
    parser.add_argument("--list-models", action="store_true", help="list the models and their recipes, then exit")
    recipe = parser.add_argument_group("recipe (defaults: the model's own recipe)")
    add_flags(recipe, leaves(Recipe), defaults=False)
    recipe.add_argument("--recipe", action="append", default=[], metavar="KEY=VALUE",
                        type=recipe_setting,
                        help="set any recipe field, e.g. gamma=0.5 or 'pieces=[[2,5e-4],[3,2e-4]]'")
    add_flags(parser.add_argument_group("where it runs"), leaves(Placement))
    add_flags(parser.add_argument_group("data and files"), leaves(IO))
    return parser


def parse_args(argv=None, prog: str | None = None) -> argparse.Namespace:
    """The command line read, with the recipe's and the run's settings it changes (``recipe_overrides``, ``config_changes``)."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    args.recipe_overrides = {**given(args, Recipe), **dict(args.recipe)}
    args.config_changes = given(args, RunConfig)
    if args.resume is not None and "out" in args.config_changes:
        parser.error("--resume continues in the checkpoint's own folder: leave out --out")
    if args.resume is not None and args.overwrite:
        parser.error("--resume continues the folder's run; --overwrite replaces it: give one")
    return args


def planned(args) -> RunConfig:
    """The configuration the command line asks for (the checkpoint's, with --resume), before
    the run resolves it. Raises CheckpointError, KeyError or ValueError."""
    if args.resume is None:
        return RunConfig.from_dict(args.config_changes, args.recipe_overrides)
    meta = read_meta(find_checkpoint(args.resume))
    saved = RunConfig.from_dict(meta["config"], meta["recipe"])
    return resume_changes(saved, args.config_changes, args.recipe_overrides)[0]


def main(argv=None, prog: str | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv, prog)
    if launched_ranks() == 1 and not args.list_models:
        ranks, why = _ranks(args)
        if ranks > 1:
            if why:
                print(f"--ranks auto: {why}", flush=True)
            return launch(args, argv, ranks)
    guard_rank()  # a rank ends when its launcher does, or when it cannot stop on a signal
    with stopping_on_signals():  # `kill` stops a run as Ctrl-C does
        return train(args)


def _ranks(args) -> tuple[int, str]:
    """The MPI ranks to launch for this command line (lenet_xp.training.placement: ``auto``
    chooses from the device, batch size and threads the run will have). One process where
    any of them is not clear yet: the run itself then reports what is wrong."""
    asked = args.config_changes.get("ranks", "auto")
    if asked != "auto":  # the ranks agree on what is wrong, if anything is
        return asked, ""
    try:
        config = planned(args)
        return config.placement.launch(get_backend(config.placement.device),
                                       config.full_recipe.batch_size)
    except (CheckpointError, DeviceError, KeyError, TypeError, ValueError):
        return 1, "one process: the run's device or batch size is not known yet"


def launch(args, argv, ranks: int) -> int:
    """``--ranks N``: run this script on N MPI ranks and own the job (Ctrl-C or ``kill`` of
    this process stops every rank; see lenet_xp.cli.mpi_launch)."""
    try:
        passed_on = without_option(argv, "--ranks")
        if "progress" not in args.config_changes and sys.stderr.isatty():
            passed_on.append("--progress")  # the ranks' output is piped, not a terminal
        # each rank runs `python -m lenet_xp train ...`: the package's own command, found
        # wherever the package is installed (scripts/train.py and `lenet-xp train` alike)
        command = launch_command(ranks, "-m", ["lenet_xp", "train", *passed_on])
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return run_on_ranks(command)
    except RankLost as lost:  # MPICH's banner names a pid; this names the rank
        print(f"error: {lost}: {kept(args)}", file=sys.stderr)
        return lost.code
    except KeyboardInterrupt as stop:
        print(f"interrupted: {kept(args)}", file=sys.stderr)
        return exit_code(stop)


def run_folder(args) -> str:
    """The run's folder: the resumed one, else --out, else the default of its model."""
    if args.resume is not None:
        return args.resume
    return str(RunConfig.from_dict(args.config_changes, {}).out)  # a flag's: never None


def kept(args) -> str:
    """What the run's folder keeps of a run that stopped before its end, and how to go on."""
    out = run_folder(args)
    if args.resume is not None or (Path(out) / CHECKPOINT).is_file():
        return f"{out} keeps the last finished epoch's checkpoint; continue with --resume {out}"
    return f"{out} holds no checkpoint yet (no epoch had ended): run the same command again"


def failed(error: Exception, code: int) -> int:
    """Report ``error`` and return the exit ``code``. Under MPI, an error of setting the run
    up is every rank's (lenet_xp.training.communicators.set_up_together): the rank it came from
    alone prints it, and the ranks stop together; an error mid-run ends the whole job at once,
    as the other ranks would wait for this one forever."""
    if not reports_error(error):
        return code
    shared = hasattr(error, "from_rank")
    where = (f" (MPI rank {launched_rank()} of {launched_ranks()})"
             if launched_ranks() > 1 and not (shared and launched_rank() == 0) else "")
    print(f"error{where}: {error}", file=sys.stderr)
    if launched_ranks() > 1 and not shared:
        abort_all(code)
    return code


def closed_pipe() -> int:
    """After standard output's reader went away (``| head``): what is still buffered goes
    nowhere (Python's exit would fail on it), and the exit code is 141, 128 + SIGPIPE, as the
    shell reports a process its pipe ended."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 141


def train(args) -> int:
    if args.list_models:
        try:
            for name, spec in sorted(MODELS.items()):
                print(f"{name}: {spec.description}\n    recipe: {spec.recipe.to_dict()}")
            sys.stdout.flush()
        except BrokenPipeError:  # --list-models | head
            return closed_pipe()
        return 0
    try:
        if args.resume is not None:
            resume_run(args.resume, args.config_changes, args.recipe_overrides)
        else:
            run(planned(args), overwrite=args.overwrite)
    except (DeviceError, ValueError) as exc:
        return failed(exc, 2)
    except (DataError, CheckpointError, TrainingDiverged, RuntimeError) as exc:
        return failed(exc, 1)
    except BrokenPipeError:  # the output went to a pipe that closed (| head): stop quietly
        return closed_pipe()
    except OSError as exc:  # a write that failed mid-run: a full disk, a vanished folder
        return failed(RuntimeError(f"cannot write the run's files ({exc}); {kept(args)}"), 1)
    except KeyboardInterrupt as stop:
        if launched_rank() == 0 and not under_launcher():  # one line, not one per rank
            print(f"interrupted: {kept(args)}", file=sys.stderr)
        return exit_code(stop)
    return 0

