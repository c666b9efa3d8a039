"""Export a trained model to ONNX, for ONNX Runtime (any language, phones, browsers), Netron,
and the converters into PyTorch and TensorFlow.

    python scripts/export.py runs/lenet5/model.npz -o lenet5.onnx
    python scripts/export.py runs/lenet5_paper/model.npz --draw lenet5_paper_graph.png
    python scripts/export.py runs/lenet5/model.npz --bench      # ONNX Runtime's speed vs lenet_xp's

The graph takes raw uint8 digits (N, 28, 28), ink 255 on black 0, and gives "scores" (what
predict.py prints), "labels" and the raw "outputs"; each layer is the ONNX operators of its
formula, named as the layer (lenet_xp.tools.export). Before the file is written, ONNX Runtime
classifies 256 random digits with it and must agree with lenet_xp (same labels, scores
within 1e-4); without onnxruntime that check is skipped, with a note. Needs the onnx package:
pip install "lenet_xp[onnx]" (and onnxruntime to check and to --bench).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from lenet_xp.backend import DeviceError
from lenet_xp.cli.argtypes import output_file
from lenet_xp.inference import load_model
from lenet_xp.runs.checkpoint import CheckpointError
from lenet_xp.tools import export

CHECK_DIGITS = 256


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command's flags; ``prog`` names it in the usage line (default: the script's name)."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", metavar="MODEL.npz", help="a model.npz (or checkpoint.npz) written by scripts/train.py")
    parser.add_argument("-o", "--output", metavar="FILE.onnx", type=output_file("model.onnx"),
                        help="where to write the graph (default: MODEL.onnx beside MODEL.npz)")
    parser.add_argument("--draw", metavar="FILE.png", type=output_file("graph.png"),
                        help="also draw the exported graph (needs matplotlib)")
    parser.add_argument("--bench", action="store_true",
                        help="time ONNX Runtime against lenet_xp's own inference, batches of 1 and 1000")
    return parser


def main(argv=None, prog: str | None = None) -> int:
    args = build_parser(prog).parse_args(argv)
    output = Path(args.output) if args.output else Path(args.model).with_suffix(".onnx")
    try:
        model = load_model(args.model)
        proto = export.to_onnx(model)
        agreement = check(model, proto)
        export.save(proto, output)
        print(summary(model, proto, output))
        if agreement is not None:
            print(f"ONNX Runtime agrees with lenet_xp on {agreement.count} random digits: the "
                  f"same labels, scores at most {agreement.score_difference:.1e} apart")
        if args.draw:
            print(f"wrote {draw(model, proto, args.draw)}")
        if args.bench:
            print(bench_table(export.benchmark(model, proto)))
    except ImportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (CheckpointError, DeviceError, export.ExportError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def check(model, proto) -> export.Agreement | None:
    """ONNX Runtime against lenet_xp on random digits; None, with a note, without onnxruntime.
    Raises ExportError where they disagree (then nothing is written)."""
    digits = np.random.default_rng(0).integers(0, 256, (CHECK_DIGITS, 28, 28), np.uint8)
    try:
        agreement = export.compare(model, proto, digits)
    except ImportError as exc:
        print(f"note: not checked in ONNX Runtime ({exc})", file=sys.stderr)
        return None
    if not agreement.agrees:
        raise export.ExportError(
            f"ONNX Runtime disagrees with lenet_xp on {CHECK_DIGITS} random digits "
            f"({agreement.same_labels} labels the same, scores up to "
            f"{agreement.score_difference:.2g} apart), so nothing was written: please report "
            "this as a bug")
    return agreement


def draw(model, proto, path) -> Path:
    title = f"{model.name} exported to ONNX: {len(proto.graph.node)} nodes, opset {export.OPSET}"
    return export.plot_onnx_graph(export.layer_nodes(proto), path, title=title)


def summary(model, proto, output: Path) -> str:
    """What was written: the file, and each layer's ONNX operators, output shape and weights."""
    nodes = export.layer_nodes(proto)
    lines = [(f"wrote {output}: {model.name} as ONNX opset {export.OPSET}, "
              f"{len(proto.graph.node)} nodes, {output.stat().st_size / 1e3:,.0f} kB "
              f"({sum(layer.weights for layer in nodes):,} weights in float32)")]
    width = max(len(layer.name) for layer in nodes)
    for layer in nodes:
        shape = str(layer.shape).replace("'", "")
        weights = f"{layer.weights:,}" if layer.weights else ""
        lines.append(f"  {layer.name:<{width}}  {' '.join(layer.ops):<34} {shape:<18} {weights:>8}")
    return "\n".join(lines)


def bench_table(timings) -> str:
    lines = [("median ms per batch, raw digits to scores and labels (CPU, each with its default "
              "threads):"),
             f"{'batch':>7} {'lenet_xp':>10} {'ONNX Runtime':>13} {'lenet_xp / ORT':>15}"]
    for t in timings:
        lines.append(f"{t.batch_size:>7} {1e3 * t.lenet_xp:>10.3f} {1e3 * t.onnx_runtime:>13.3f} "
                     f"{t.lenet_xp / t.onnx_runtime:>15.2f}")
    return "\n".join(lines)

