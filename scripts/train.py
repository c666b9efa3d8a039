#!/usr/bin/env python3
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
(device, threads, data folder, progress bars, plots) may be given. On a CPU with several
cores and MPI installed, the run is launched on MPI ranks where each gets enough of every
batch to gain (``--ranks auto``, the default: lenet_xp.cli.ranks), and says so first.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lenet_xp.backend import DEVICE_STRINGS, DeviceError, get_backend
from lenet_xp.cli.argtypes import finite_float, non_negative_int, positive_int, recipe_setting
from lenet_xp.cli.mpi_launch import (guard_rank, launch_command, run_on_ranks, under_launcher,
                                     without_option)
from lenet_xp.cli.rank_watch import RankLost
from lenet_xp.cli.ranks import MIN_RANK_SHARE, auto_ranks, parse_ranks
from lenet_xp.cli.signals import exit_code, stopping_on_signals
from lenet_xp.data import DataError
from lenet_xp.models import MODELS
from lenet_xp.runs.checkpoint import CheckpointError, read_meta
from lenet_xp.runs.folder import CHECKPOINT
from lenet_xp.training.communicators import (abort_all, launched_rank, launched_ranks,
                                             reports_error)
from lenet_xp.training.experiment import RunConfig, run
from lenet_xp.training.loop import TrainingDiverged
from lenet_xp.training.resume import find_checkpoint, resume_run

# flag -> Recipe field, for the flags that override one field of the model's recipe
RECIPE_FLAGS = {"epochs": "epochs", "batch_size": "batch_size", "lr": "lr",
                "optimizer": "optimizer", "weight_decay": "weight_decay",
                "momentum": "momentum", "schedule": "schedule"}

# RunConfig field -> flag attribute; flags left out are None, so that --resume can tell what
# was asked for from what was defaulted
CONFIG_FLAGS = {"model": "model", "device": "device", "dtype": "dtype", "seed": "seed",
                "data_dir": "data_dir", "val_size": "val_size", "out": "out",
                "train_limit": "train_limit", "threads": "threads",
                "split_batch": "split_batch", "progress": "progress"}
# RunConfig field -> (flag attribute, the field's value when the flag is given)
SWITCHES = {"verify": ("no_verify", False), "download": ("no_download", False),
            "plot": ("no_plot", False)}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(MODELS), help="model to train (default: lenet5)")
    parser.add_argument("--device", help=f"{DEVICE_STRINGS} (default: cpu)")
    parser.add_argument("--dtype", choices=["float32", "float64"], help="default: float32")
    parser.add_argument("--seed", type=non_negative_int, help="seeds weights, split, shuffling and dropout (default: 0)")
    parser.add_argument("--data-dir", help="folder with the four MNIST IDX files (raw or .gz); "
                        "default: $LENET_XP_DATA, else ~/.cache/lenet_xp/mnist")
    parser.add_argument("--val-size", type=non_negative_int, help="training images held out for validation (default: 5000)")
    parser.add_argument("--out", help="output folder (default: runs/MODEL)")
    parser.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN (or from "
                        "the checkpoint file RUN) after its last finished epoch")
    parser.add_argument("--overwrite", action="store_true", help="replace the run that the --out "
                        "folder holds (its files are deleted once this run is ready to start)")
    recipe = parser.add_argument_group("recipe (defaults: the model's own recipe)")
    recipe.add_argument("--epochs", type=positive_int)
    recipe.add_argument("--batch-size", type=positive_int)
    recipe.add_argument("--lr", type=finite_float, help="initial learning rate")
    recipe.add_argument("--optimizer", help="sgd, adam, adagrad, ...")
    recipe.add_argument("--weight-decay", type=finite_float, help="L2 coefficient")
    recipe.add_argument("--momentum", type=finite_float, help="SGD momentum")
    recipe.add_argument("--schedule", help="constant, step, exponential or piecewise")
    recipe.add_argument("--recipe", action="append", default=[], metavar="KEY=VALUE",
                        type=recipe_setting,
                        help="set any recipe field, e.g. gamma=0.5 or 'pieces=[[2,5e-4],[3,2e-4]]'")
    parser.add_argument("--threads", type=positive_int, help="the run's CPU threads, shared out "
                        "between its MPI ranks: numpy's BLAS threads, or the threads each batch "
                        "is split across (default: every core)")
    parser.add_argument("--ranks", type=parse_ranks, default="auto",
                        help="launch the run on N MPI ranks on this machine (mpiexec -n N ...), "
                             "each with its share of every batch; auto (default): several on a "
                             "multi-core CPU where MPI is installed and each rank gets at least "
                             f"{MIN_RANK_SHARE} images of every batch, else 1 (one process)")
    parser.add_argument("--split-batch", action=argparse.BooleanOptionalAction,
                        help="split each batch across the --threads threads, one BLAS thread "
                             "each, or never; default: split where every thread gets at least "
                             "64 images (batch 128 and up with 2 threads), else BLAS threads")
    parser.add_argument("--no-verify", action="store_true", help="skip the MNIST checksums (other IDX datasets)")
    parser.add_argument("--no-download", action="store_true", help="never try to download missing files")
    parser.add_argument("--train-limit", type=positive_int, help="train on the first N training images only")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction,
                        help="progress bars (default: only when the output is a terminal)")
    parser.add_argument("--no-plot", action="store_true", help="do not draw curves.png")
    parser.add_argument("--list-models", action="store_true", help="list the models and their recipes, then exit")
    args = parser.parse_args(argv)
    args.recipe_overrides = _recipe_overrides(args)
    args.config_changes = _config_changes(args)
    if args.resume is not None and args.out is not None:
        parser.error("--resume continues in the checkpoint's own folder: leave out --out")
    if args.resume is not None and args.overwrite:
        parser.error("--resume continues the folder's run; --overwrite replaces it: give one")
    return args


def _recipe_overrides(args) -> dict:
    overrides = {field: getattr(args, flag) for flag, field in RECIPE_FLAGS.items()
                 if getattr(args, flag) is not None}
    overrides.update(args.recipe)
    return overrides


def _config_changes(args) -> dict:
    """The RunConfig fields the flags given set (flags left out are not in it)."""
    changes = {field: getattr(args, flag) for field, flag in CONFIG_FLAGS.items()
               if getattr(args, flag) is not None}
    changes.update({field: value for field, (flag, value) in SWITCHES.items() if getattr(args, flag)})
    return changes


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    ranks = args.ranks
    if ranks == "auto" and launched_ranks() == 1 and not args.list_models:
        ranks, why = _auto_ranks(args)
        if ranks > 1:
            print(f"--ranks auto: {why}", flush=True)
    if ranks != "auto" and ranks > 1 and launched_ranks() == 1:
        return launch(args, argv, ranks)
    guard_rank()  # a rank ends when its launcher does, or when it cannot stop on a signal
    with stopping_on_signals():  # `kill` stops a run as Ctrl-C does
        return train(args)


def _auto_ranks(args) -> tuple[int, str]:
    """``--ranks auto``'s choice for this command line: the device, batch size and threads it
    will run with (the checkpoint's with --resume). One process where any of them is not
    clear yet: the run itself then reports what is wrong."""
    try:
        if args.resume is not None:
            meta = read_meta(find_checkpoint(args.resume))
            device = args.device or meta["config"]["device"]
            batch_size = meta["recipe"]["batch_size"]
        else:
            device = args.device or RunConfig.device
            batch_size = args.recipe_overrides.get(
                "batch_size", MODELS[args.model or RunConfig.model].recipe.batch_size)
        return auto_ranks(get_backend(device), int(batch_size), args.threads)
    except (CheckpointError, DeviceError, KeyError, TypeError, ValueError):
        return 1, "one process: the run's device or batch size is not known yet"


def launch(args, argv, ranks: int) -> int:
    """``--ranks N``: run this script on N MPI ranks and own the job (Ctrl-C or ``kill`` of
    this process stops every rank; see lenet_xp.cli.mpi_launch)."""
    try:
        passed_on = without_option(argv, "--ranks")
        if args.progress is None and sys.stderr.isatty():
            passed_on.append("--progress")  # the ranks' output is piped, not a terminal
        command = launch_command(ranks, __file__, passed_on)
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
    return args.resume or args.out or f"runs/{args.model or 'lenet5'}"


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
    out = run_folder(args)
    try:
        if args.resume is not None:
            resume_run(args.resume, args.config_changes, args.recipe_overrides)
        else:
            run(RunConfig(**{**args.config_changes, "out": out, "recipe": args.recipe_overrides}),
                overwrite=args.overwrite)
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


if __name__ == "__main__":
    sys.exit(main())
