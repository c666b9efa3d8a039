#!/usr/bin/env python3
"""Train a lenet_xp model on MNIST.

    python scripts/train.py --data-dir ../shared/data/mnist            # modern LeNet-5, CPU
    python scripts/train.py --device cuda --data-dir ~/mnist           # on an NVIDIA GPU
    python scripts/train.py --model lenet5 --epochs 3 --lr 1e-3 --recipe schedule=constant

Flags left out take the model's default recipe (``--list-models`` shows them).
"""

from __future__ import annotations

import argparse
import json
import sys

from lenet_xp.argtypes import positive_int
from lenet_xp.backend import DeviceError
from lenet_xp.checkpoint import CheckpointError
from lenet_xp.data import DataError
from lenet_xp.experiment import RunConfig, run
from lenet_xp.models import MODELS
from lenet_xp.train import TrainingDiverged

# flag -> Recipe field, for the flags that override one field of the model's recipe
RECIPE_FLAGS = {"epochs": "epochs", "batch_size": "batch_size", "lr": "lr",
                "optimizer": "optimizer", "weight_decay": "weight_decay",
                "momentum": "momentum", "schedule": "schedule"}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="lenet5", choices=sorted(MODELS), help="model to train (default: lenet5)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or array_api_strict (default: cpu)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--seed", type=int, default=0, help="seeds weights, split, shuffling and dropout")
    parser.add_argument("--data-dir", help="folder with the four MNIST IDX files (raw or .gz); "
                        "default: $LENET_XP_DATA, else ~/.cache/lenet_xp/mnist")
    parser.add_argument("--val-size", type=int, default=5000, help="training images held out for validation")
    parser.add_argument("--out", default=None, help="output folder (default: runs/MODEL)")
    recipe = parser.add_argument_group("recipe (defaults: the model's own recipe)")
    recipe.add_argument("--epochs", type=int)
    recipe.add_argument("--batch-size", type=int)
    recipe.add_argument("--lr", type=float, help="initial learning rate")
    recipe.add_argument("--optimizer", help="sgd, adam, adagrad, ...")
    recipe.add_argument("--weight-decay", type=float, help="L2 coefficient")
    recipe.add_argument("--momentum", type=float, help="SGD momentum")
    recipe.add_argument("--schedule", help="constant, step, exponential or piecewise")
    recipe.add_argument("--recipe", action="append", default=[], metavar="KEY=VALUE",
                        help="set any recipe field, e.g. gamma=0.5 or 'pieces=[[2,5e-4],[3,2e-4]]'")
    parser.add_argument("--threads", type=positive_int, help="CPU threads: numpy's BLAS threads, or the "
                        "threads each batch is split across (default: BLAS's own)")
    parser.add_argument("--split-batch", action=argparse.BooleanOptionalAction,
                        help="split each batch across the --threads threads, one BLAS thread "
                             "each, or never; default: split where every thread gets at least "
                             "64 images (batch 128 and up with 2 threads), else BLAS threads")
    parser.add_argument("--no-verify", action="store_true", help="skip the MNIST checksums (other IDX datasets)")
    parser.add_argument("--no-download", action="store_true", help="never try to download missing files")
    parser.add_argument("--train-limit", type=int, help="train on the first N training images only")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--list-models", action="store_true", help="list the models and their recipes, then exit")
    args = parser.parse_args(argv)
    args.recipe_overrides = _recipe_overrides(parser, args)
    return args


def _recipe_overrides(parser, args) -> dict:
    overrides = {field: getattr(args, flag) for flag, field in RECIPE_FLAGS.items()
                 if getattr(args, flag) is not None}
    for item in args.recipe:
        key, sep, text = item.partition("=")
        if not sep or not key:
            parser.error(f"--recipe takes KEY=VALUE, got {item!r}")
        try:
            overrides[key] = json.loads(text)
        except json.JSONDecodeError:
            overrides[key] = text
    return overrides


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.list_models:
        for name, spec in sorted(MODELS.items()):
            print(f"{name}: {spec.description}\n    recipe: {spec.recipe.to_dict()}")
        return 0
    config = RunConfig(model=args.model, device=args.device, dtype=args.dtype, seed=args.seed,
                       data_dir=args.data_dir, val_size=args.val_size,
                       out=args.out or f"runs/{args.model}", recipe=args.recipe_overrides,
                       verify=not args.no_verify, download=not args.no_download,
                       train_limit=args.train_limit, progress=not args.no_progress,
                       threads=args.threads, split_batch=args.split_batch)
    try:
        run(config)
    except (DeviceError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (DataError, CheckpointError, TrainingDiverged) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: the last finished epoch's checkpoint is in the output folder", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
