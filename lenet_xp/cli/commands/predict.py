"""Classify your own digit images with a trained model, or a committee of several.

    python scripts/predict.py runs/lenet5/model.npz my_seven.png photo.jpg
    python scripts/predict.py runs/lenet5/model.npz digits/            # every image in a folder
    cat scan.png | python scripts/predict.py runs/lenet5/model.npz -    # standard input
    python scripts/predict.py runs/lenet5/model.npz my_seven.png --show seen.png --json
    python scripts/predict.py runs/a/model.npz runs/b/model.npz my_seven.png   # a committee

Any size, colour or grey, PNG, JPEG, BMP, ... Each image is made a digit as MNIST's were made
(greyscale, inverted if the background is light, cropped to the ink, scaled to fit 20x20,
centred by its centre of mass in 28x28), then the model's own padding and normalisation are
applied. Prints each file's top classes with their scores; a file that cannot be read, or
holds no ink, is named with the reason, the others are still classified, and the exit code
is 1. The leading arguments that end in .npz are the models: several make a committee that
averages their scores, each member preparing each digit its own way
(lenet_xp.inference.Committee).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from lenet_xp.backend import DEVICE_STRINGS
from lenet_xp.cli.argtypes import output_file, positive_int
from lenet_xp.cli.loading import load_models_or_exit
from lenet_xp.cli.signals import stopped_in_one_line
from lenet_xp.data.images import IMAGE_SUFFIXES, MAX_PIXELS, ImageError, read_stream


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command's flags; ``prog`` names it in the usage line (default: the script's name)."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="%(prog)s [-h] [--device DEVICE] [--top TOP] [--json] [--show FILE.png] [--max-pixels N] "
              "MODEL.npz [MODEL.npz ...] IMAGE [IMAGE ...]")
    parser.add_argument("paths", metavar="MODEL.npz ... IMAGE", nargs="+",
                        help="one model.npz written by scripts/train.py, or several (a committee), "
                             "then image files, folders of them, or - for one image on standard "
                             "input")
    parser.add_argument("--device", default="cpu", help=f"{DEVICE_STRINGS} (README: Backends)")
    parser.add_argument("--top", type=positive_int, default=3, help="how many classes to show (default 3)")
    parser.add_argument("--json", action="store_true",
                        help='one JSON object per line and file: {"file": ..., "top": [[class, score], ...]} '
                             'or {"file": ..., "error": ...}')
    parser.add_argument("--show", metavar="FILE.png", type=output_file("seen.png"),
                        help="draw what the network saw beside its scores (one image: FILE.png; "
                             "several: FILE-1.png, FILE-2.png, ...); needs matplotlib")
    parser.add_argument("--max-pixels", metavar="N", type=positive_int, default=MAX_PIXELS,
                        help=f"the most pixels an image may have, checked before it is decoded "
                             f"(default {MAX_PIXELS:,})")
    return parser


def parse_args(argv=None, prog: str | None = None) -> argparse.Namespace:
    """The command line read, its paths split into ``models`` and ``images``."""
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    models = 0
    while models < len(args.paths) and args.paths[models].lower().endswith(".npz"):
        models += 1
    if not models:
        parser.error(f"the first argument must be a model file (.npz), got {args.paths[0]!r}: "
                     "give MODEL.npz [MODEL.npz ...] IMAGE [IMAGE ...]")
    if models == len(args.paths):
        parser.error("no images to classify: give MODEL.npz [MODEL.npz ...] IMAGE [IMAGE ...]")
    args.models, args.images = args.paths[:models], args.paths[models:]
    return args


def expand(images: list[str]) -> list:
    """Arguments -> sources: paths as given, a folder's image files (sorted), ``-`` as the
    ``("<stdin>", bytes)`` pair (ImageError past :data:`~lenet_xp.data.images.MAX_STREAM_BYTES`)."""
    sources: list = []
    for item in images:
        path = Path(item)
        if item == "-":
            sources.append(("<stdin>", read_stream(sys.stdin.buffer, "<stdin>")))
        elif path.is_dir():
            sources += sorted(str(p) for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            sources.append(item)
    return sources


def show_paths(show: str, count: int) -> list[Path]:
    path = Path(show)
    if count == 1:
        return [path]
    return [path.with_name(f"{path.stem}-{k}{path.suffix or '.png'}") for k in range(1, count + 1)]


def main(argv=None, prog: str | None = None) -> int:
    args = parse_args(argv, prog)
    return stopped_in_one_line(lambda: predict(args))  # Ctrl-C: one line, 130


def predict(args) -> int:
    model = load_models_or_exit(args.models, args.device)
    try:
        sources = expand(args.images)
    except ImageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not sources:
        print(f"error: no image files in {', '.join(args.images)}", file=sys.stderr)
        return 1
    results = model.predict_files(sources, top=args.top, max_pixels=args.max_pixels)
    if not args.json:
        members = getattr(model, "members", None)
        name = f"committee ({', '.join(m.name for m in members)})" if members else model.name
        print(f"{name} scores: {model.score_name}")
    for result in results:
        if result.error is not None:
            print(json.dumps({"file": result.file, "error": result.error}) if args.json
                  else f"error: {result.error}", file=sys.stdout if args.json else sys.stderr)
        elif args.json:
            print(json.dumps({"file": result.file, "top": [[c, s] for c, s in result.top]}))
        else:
            print(f"{result.file}: " + "  ".join(f"{c} ({s:.3f})" for c, s in result.top))
    if args.show:
        shown = [result for result in results if result.error is None]
        try:
            from lenet_xp.tools.plots import plot_prediction

            for result, path in zip(shown, show_paths(args.show, len(shown)), strict=True):
                plot_prediction(result.digit, result.top, path, score_name=model.score_name,
                                title=f"{model.name} on {Path(result.file).name}")
                print(f"wrote {path}", file=sys.stderr)
        except (ImportError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 1 if any(result.error is not None for result in results) else 0

