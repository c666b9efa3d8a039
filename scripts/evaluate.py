#!/usr/bin/env python3
"""Evaluate a trained model on the MNIST test set (or any dataset in MNIST's file layout).

    python scripts/evaluate.py runs/lenet5/model.npz --data-dir ../shared/data/mnist
    python scripts/evaluate.py runs/lenet5/model.npz --json eval.json --plots figures/
    python scripts/evaluate.py fashion/model.npz --data-dir ~/fashion-mnist --no-verify

Prints what the model is, its test accuracy and error (the figure its training run printed),
the per-class accuracy, the confusion matrix and the most-confused pairs. ``--json`` writes
them as JSON (``test_accuracy`` a fraction, ``confusion`` a 10x10 list, ...); ``--plots DIR``
draws the confusion matrix, the misclassified digits, the first layer's filters, the
feature maps of one digit and, for the RBF models, their prototypes (needs matplotlib).
"""

from __future__ import annotations

import argparse
import json
import sys

from lenet_xp.backend import DeviceError
from lenet_xp.data import DataError, load_mnist
from lenet_xp.runs.checkpoint import CheckpointError
from lenet_xp.tools.evaluation import evaluate_digits, report, write_figures
from lenet_xp.tools.inference import load_model


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", metavar="MODEL.npz", help="a model.npz (or checkpoint.npz) written by scripts/train.py")
    parser.add_argument("--data-dir", help="folder with the MNIST IDX files (default: $LENET_XP_DATA, "
                        "else ~/.cache/lenet_xp/mnist)")
    parser.add_argument("--device", default="cpu",
                        help="cpu, cuda[:N], torch[:cpu], torch:cuda[:N], torch:mps, "
                             "torch:xpu[:N] or array_api_strict[:device1] (README: Backends)")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    parser.add_argument("--plots", metavar="DIR", help="write the evaluation's figures into DIR")
    parser.add_argument("--no-verify", action="store_true", help="skip the MNIST checksums (other IDX datasets)")
    parser.add_argument("--no-download", action="store_true", help="never try to download missing files")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        model = load_model(args.model, device=args.device)
        splits = load_mnist(args.data_dir, verify=not args.no_verify, download=not args.no_download)
        evaluation = evaluate_digits(model, splits.test_images, splits.test_labels)
        print(report(model, evaluation, f"{evaluation.count:,} test images"))
        if args.json:
            with open(args.json, "w") as file:
                json.dump({"model": model.name, "checkpoint": args.model,
                           "parameters": model.num_parameters(),
                           "epochs": model.meta.get("epoch"), "recipe": model.meta.get("recipe"),
                           "written": model.meta.get("written"), **evaluation.to_dict()},
                          file, indent=1)
            print(f"wrote {args.json}")
        if args.plots:
            for path in write_figures(model, evaluation, splits.test_images, args.plots):
                print(f"wrote {path}")
    except DeviceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (CheckpointError, DataError, ImportError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
