"""Evaluate a trained model, or a committee of several, on the MNIST test set (or any
dataset in MNIST's file layout).

    python scripts/evaluate.py runs/lenet5/model.npz --data-dir ../shared/data/mnist
    python scripts/evaluate.py runs/lenet5/model.npz --json eval.json --plots figures/
    python scripts/evaluate.py fashion/model.npz --data-dir ~/fashion-mnist --no-verify
    python scripts/evaluate.py runs/a/model.npz runs/b/model.npz runs/c/model.npz   # a committee

Prints what the model is, its test accuracy and error (the figure its training run printed),
the per-class accuracy, the confusion matrix and the most-confused pairs. ``--json`` writes
them as JSON (``test_accuracy`` a fraction, ``confusion`` a 10x10 list, ...); ``--plots DIR``
draws the confusion matrix, the misclassified digits, the first layer's filters, the
feature maps of one digit and, for the RBF models, their prototypes (needs matplotlib).

Several models make a committee that averages their scores (lenet_xp.inference.Committee):
each member's test error is printed, then the committee's figures; ``--json`` holds the
committee's figures and ``members`` (each one's file, model, seed and test error); ``--plots``
draws the committee's confusion matrix and misclassified digits.
"""

from __future__ import annotations

import argparse
import json
import sys

from lenet_xp.backend import DEVICE_STRINGS
from lenet_xp.cli.loading import load_models_or_exit
from lenet_xp.cli.signals import stopped_in_one_line
from lenet_xp.data import DataError, load_mnist
from lenet_xp.inference import Committee
from lenet_xp.inference.evaluation import (
    committee_report,
    evaluate_digits,
    report,
    validation_digits,
)
from lenet_xp.tools.evaluation_figures import write_figures


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command's flags; ``prog`` names it in the usage line (default: the script's name)."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", metavar="MODEL.npz", nargs="+",
                        help="a model.npz (or checkpoint.npz) written by scripts/train.py; several: "
                             "a committee that averages their scores")
    parser.add_argument("--data-dir", help="folder with the MNIST IDX files (default: $LENET_XP_DATA, "
                        "else ~/.cache/lenet_xp/mnist)")
    parser.add_argument("--device", default="cpu", help=f"{DEVICE_STRINGS} (README: Backends)")
    parser.add_argument("--split", choices=("test", "validation"), default="test",
                        help="the test set (default), or the training images the run held out "
                             "for validation (its seed and --val-size; a committee's members must "
                             "share them): where recipes and committees are chosen")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON to FILE")
    parser.add_argument("--plots", metavar="DIR", help="write the evaluation's figures into DIR")
    parser.add_argument("--no-verify", action="store_true", help="skip the MNIST checksums (other IDX datasets)")
    parser.add_argument("--no-download", action="store_true", help="never try to download missing files")
    return parser


def described(model, path: str) -> dict:
    """What the JSON says about one model file."""
    return {"model": model.name, "checkpoint": path, "parameters": model.num_parameters(),
            "epochs": model.meta.get("epoch"), "seed": model.meta.get("config", {}).get("seed"),
            "recipe": model.meta.get("recipe"), "written": model.meta.get("written")}


def evaluated(model, paths: list[str], digits, labels, split: str):
    """(evaluation, text report, JSON record) of the one model or the committee on ``digits``."""
    source = f"{labels.shape[0]:,} {split} images"
    evaluation = evaluate_digits(model, digits, labels)
    if not isinstance(model, Committee):
        return (evaluation, report(model, evaluation, source, split),
                {**described(model, paths[0]), **evaluation.to_dict(split)})
    record = {"model": model.name, "parameters": model.num_parameters(),
              "score": model.score_name, **evaluation.to_dict(split),
              "members": [{**described(member, path), f"{split}_accuracy": result.accuracy,
                           f"{split}_error": 1 - result.accuracy,
                           "errors": int(result.misclassified.shape[0])}
                          for member, result, path in zip(model.members, evaluation.members,
                                                          paths, strict=True)]}
    return evaluation, committee_report(model, evaluation, paths, source, split), record


def main(argv=None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    return stopped_in_one_line(lambda: evaluate(args))  # Ctrl-C: one line, 130


def evaluate(args) -> int:
    model = load_models_or_exit(args.models, args.device)
    try:
        splits = load_mnist(args.data_dir, verify=not args.no_verify, download=not args.no_download,
                            classes=model.classes)
        digits, labels = ((splits.test_images, splits.test_labels) if args.split == "test" else
                          validation_digits(getattr(model, "members", [model]), splits))
        evaluation, text, record = evaluated(model, args.models, digits, labels, args.split)
        print(text)
        if args.json:
            with open(args.json, "w") as file:
                json.dump(record, file, indent=1)
            print(f"wrote {args.json}")
        if args.plots:
            for path in write_figures(model, evaluation, digits, args.plots):
                print(f"wrote {path}")
    except (DataError, ImportError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # --split validation where the runs held out nothing in common
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0

