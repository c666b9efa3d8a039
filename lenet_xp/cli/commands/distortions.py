"""Show what a model trains on: training digits beside random versions of them, distorted
as the model's recipe distorts every training batch (shift, then the distort field).

    python scripts/distortions.py --model lenet5_paper_distorted --data-dir ../shared/data/mnist
    python scripts/distortions.py --model lenet5_elastic --count 6 --copies 8 --out elastic.png
    python scripts/distortions.py --recipe distort=elastic --recipe elastic_alpha=60

Digits are the first --count training images, padded to the model's input size and scaled to
[0, 1] for the picture (the distortion does not depend on the pixel scale). Needs matplotlib:
pip install 'lenet_xp[plot]'.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from lenet_xp.backend import Random
from lenet_xp.cli.argtypes import non_negative_int, positive_int, recipe_setting
from lenet_xp.data import DataError, load_mnist, model_input, random_shift
from lenet_xp.data.augment import distortion_examples
from lenet_xp.models import MODELS, get_model
from lenet_xp.tools.plots import plot_distortions


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command's flags; ``prog`` names it in the usage line (default: the script's name)."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="lenet5_paper_distorted", choices=sorted(MODELS),
                        help="whose recipe distorts (default: lenet5_paper_distorted)")
    parser.add_argument("--recipe", action="append", default=[], metavar="KEY=VALUE",
                        type=recipe_setting,
                        help="change a recipe field, e.g. distort=elastic or elastic_alpha=60")
    parser.add_argument("--data-dir", help="folder with the MNIST IDX files (default: "
                                           "$LENET_XP_DATA, else ~/.cache/lenet_xp/mnist)")
    parser.add_argument("--no-verify", action="store_true", help="skip the MNIST checksums")
    parser.add_argument("--count", type=positive_int, default=5, help="digits (default: 5)")
    parser.add_argument("--copies", type=positive_int, default=6,
                        help="random versions of each (default: 6)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seeds the distortions")
    parser.add_argument("--out", default="distortions.png", help="figure (default: distortions.png)")
    return parser


def main(argv=None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    spec = get_model(args.model)
    try:
        recipe = spec.recipe.replace(**dict(args.recipe))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        digits = load_mnist(args.data_dir, verify=not args.no_verify,
                            download=False).train_images[:args.count]
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    originals = model_input(digits, "zero_one", spec.input_size if spec.input_size != 28 else None)
    distortion, random = recipe.distortion, Random(args.seed)

    def shifted_then_distorted(batch, rng):
        return distortion(random_shift(batch, recipe.shift, rng), rng)

    distorted = distortion_examples(originals, random, shifted_then_distorted, args.copies)
    what = [f"shift ±{recipe.shift} px"] if recipe.shift else []
    if recipe.distortion.kind != "none":
        what.append(recipe.distortion.kind)
    title = f"{args.model}: training digits as the recipe distorts them ({', '.join(what) or 'none'})"
    try:
        path = plot_distortions(originals, np.clip(distorted, 0.0, 1.0), args.out, title=title)
    except OSError as exc:
        print(f"error: cannot write {args.out} ({exc.strerror or exc})", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0

