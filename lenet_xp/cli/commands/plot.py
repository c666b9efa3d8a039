"""Plot the learning curves of training runs (folders written by scripts/train.py).

    python scripts/plot.py runs/lenet5                       # -> runs/lenet5/curves.png (redrawn)
    python scripts/plot.py runs/lenet5 runs/lenet5_paper     # -> runs_comparison.png
    python scripts/plot.py runs/s0 runs/s1 --labels "seed 0,seed 1" --out seeds.png
    python scripts/plot.py runs/lenet5 --compare --title "LeNet-5, one run"

Each RUN_DIR must hold the run's metrics.jsonl. One RUN_DIR gives its loss and error curves
(lenet_xp.runs.curves.plot_learning_curves); several, or --compare, give one figure of their
validation and training error per epoch (lenet_xp.runs.curves.plot_runs). Needs matplotlib:
pip install 'lenet_xp[plot]'.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lenet_xp.runs.curves import plot_learning_curves, plot_runs
from lenet_xp.runs.folder import CURVES, METRICS
from lenet_xp.runs.metrics import read_metrics

COMPARISON_FILE = "runs_comparison.png"


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command's flags; ``prog`` names it in the usage line (default: the script's name)."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR", help="run folder(s) holding metrics.jsonl")
    parser.add_argument("--out", type=Path, help=f"figure to write (default: RUN_DIR/{CURVES} for one "
                        f"run, ./{COMPARISON_FILE} for a comparison); .png, .svg or .pdf")
    parser.add_argument("--labels", help="comma-separated legend labels, one per RUN_DIR "
                        "(default: the folder names, with parent folders where they clash)")
    parser.add_argument("--title", help="figure title (default: one that says what is plotted)")
    parser.add_argument("--compare", action="store_true", help="a comparison figure even for one RUN_DIR")
    return parser


def parse_args(argv=None, prog: str | None = None) -> argparse.Namespace:
    """The command line read, ``labels`` a list."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if args.labels is not None:
        args.labels = [label.strip() for label in args.labels.split(",")]
        if len(args.labels) != len(args.run_dirs):
            parser.error(f"--labels gives {len(args.labels)} label(s) for {len(args.run_dirs)} RUN_DIR(s)")
        if len(set(args.labels)) != len(args.labels):
            parser.error("--labels must all differ")
    return args


def unique_labels(run_dirs: list[Path]) -> list[str]:
    """The folders' names, extended by parent folders until no two are equal ("s0/lenet5",
    "s1/lenet5"); a folder given twice is numbered."""
    parts = [run_dir.resolve().parts for run_dir in run_dirs]
    for depth in range(1, max(len(p) for p in parts) + 1):
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    return [f"{p[-1]} ({index})" for index, p in enumerate(parts, start=1)]


def main(argv=None, prog: str | None = None) -> int:
    args = parse_args(argv, prog)
    try:
        runs = {}
        for run_dir, label in zip(args.run_dirs, args.labels or unique_labels(args.run_dirs),
                                    strict=True):
            metrics = run_dir / METRICS
            if not metrics.is_file():
                raise ValueError(f"{run_dir} has no {METRICS}: give a run folder written by "
                                 "scripts/train.py")
            try:
                records = read_metrics(metrics)
            except ValueError as exc:
                raise ValueError(f"{exc}: fix or delete that line") from None
            if not any(record.get("event") == "epoch" for record in records):
                raise ValueError(f"{metrics} has no epoch records yet: plot after the first epoch")
            runs[label] = records
        if len(runs) == 1 and not args.compare:
            out = plot_learning_curves(next(iter(runs.values())), args.out or args.run_dirs[0] / CURVES,
                                       title=args.title)
        else:
            out = plot_runs(runs, args.out or Path(COMPARISON_FILE), title=args.title)
    except (ImportError, ValueError, OSError) as exc:  # matplotlib missing, bad file, unwritable --out
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {out}")
    return 0

