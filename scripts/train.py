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
import subprocess
import sys

from lenet_xp.backend import DEVICE_STRINGS, DeviceError, get_backend
from lenet_xp.cli.argtypes import positive_int, recipe_setting
from lenet_xp.cli.mpi_launch import launch_command, without_option
from lenet_xp.cli.ranks import MIN_RANK_SHARE, auto_ranks, parse_ranks
from lenet_xp.data import DataError
from lenet_xp.models import MODELS
from lenet_xp.runs.checkpoint import CheckpointError, load_checkpoint
from lenet_xp.training.communicators import abort_all, launched_rank, launched_ranks
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
    parser.add_argument("--seed", type=int, help="seeds weights, split, shuffling and dropout (default: 0)")
    parser.add_argument("--data-dir", help="folder with the four MNIST IDX files (raw or .gz); "
                        "default: $LENET_XP_DATA, else ~/.cache/lenet_xp/mnist")
    parser.add_argument("--val-size", type=int, help="training images held out for validation (default: 5000)")
    parser.add_argument("--out", help="output folder (default: runs/MODEL)")
    parser.add_argument("--resume", metavar="RUN", help="continue the run in folder RUN (or from "
                        "the checkpoint file RUN) after its last finished epoch")
    recipe = parser.add_argument_group("recipe (defaults: the model's own recipe)")
    recipe.add_argument("--epochs", type=int)
    recipe.add_argument("--batch-size", type=int)
    recipe.add_argument("--lr", type=float, help="initial learning rate")
    recipe.add_argument("--optimizer", help="sgd, adam, adagrad, ...")
    recipe.add_argument("--weight-decay", type=float, help="L2 coefficient")
    recipe.add_argument("--momentum", type=float, help="SGD momentum")
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
    parser.add_argument("--train-limit", type=int, help="train on the first N training images only")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction,
                        help="progress bars (default: only when the output is a terminal)")
    parser.add_argument("--no-plot", action="store_true", help="do not draw curves.png")
    parser.add_argument("--list-models", action="store_true", help="list the models and their recipes, then exit")
    args = parser.parse_args(argv)
    args.recipe_overrides = _recipe_overrides(args)
    args.config_changes = _config_changes(args)
    if args.resume is not None and args.out is not None:
        parser.error("--resume continues in the checkpoint's own folder: leave out --out")
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
        try:
            passed_on = without_option(argv, "--ranks")
            if args.progress is None and sys.stderr.isatty():
                passed_on.append("--progress")  # the ranks' output is piped, not a terminal
            command = launch_command(ranks, __file__, passed_on)
        except RuntimeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return subprocess.call(command)
    code = train(args)
    if code not in (0, 130) and launched_ranks() > 1:
        abort_all(code)  # the other ranks would wait for this one forever
    return code


def _auto_ranks(args) -> tuple[int, str]:
    """``--ranks auto``'s choice for this command line: the device, batch size and threads it
    will run with (the checkpoint's with --resume). One process where any of them is not
    clear yet: the run itself then reports what is wrong."""
    try:
        if args.resume is not None:
            meta = load_checkpoint(find_checkpoint(args.resume)).meta
            device = args.device or meta["config"]["device"]
            batch_size = meta["recipe"]["batch_size"]
        else:
            device = args.device or RunConfig.device
            batch_size = args.recipe_overrides.get(
                "batch_size", MODELS[args.model or RunConfig.model].recipe.batch_size)
        return auto_ranks(get_backend(device), int(batch_size), args.threads)
    except (CheckpointError, DeviceError, KeyError, TypeError, ValueError):
        return 1, "one process: the run's device or batch size is not known yet"


def train(args) -> int:
    if args.list_models:
        for name, spec in sorted(MODELS.items()):
            print(f"{name}: {spec.description}\n    recipe: {spec.recipe.to_dict()}")
        return 0
    where = f" (MPI rank {launched_rank()} of {launched_ranks()})" if launched_ranks() > 1 else ""
    out = args.resume or args.out or f"runs/{args.model or 'lenet5'}"
    try:
        if args.resume is not None:
            resume_run(args.resume, args.config_changes, args.recipe_overrides)
        else:
            run(RunConfig(**{**args.config_changes, "out": out, "recipe": args.recipe_overrides}))
    except (DeviceError, ValueError) as exc:
        print(f"error{where}: {exc}", file=sys.stderr)
        return 2
    except (DataError, CheckpointError, TrainingDiverged, RuntimeError) as exc:
        print(f"error{where}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted: {out} keeps the last finished epoch's checkpoint; continue with "
              f"--resume {out}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
