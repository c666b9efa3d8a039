"""An exported ONNX graph drawn as LeNet-5's figure 2 draws the network (:func:`plot_onnx_graph`,
``scripts/export.py --draw``), with matplotlib (an optional dependency: ``lenet_xp[plot]``)."""

from __future__ import annotations

import math
from pathlib import Path

from ...canvas import new_figure, save_figure


def plot_onnx_graph(layers, path, title=None, outputs=("scores", "labels", "outputs")) -> Path:
    """An exported ONNX graph drawn as LeNet-5's figure 2 draws the network: a chain of
    boxes, one per layer that changes the data's size (C1, S2, ...), each with its ONNX
    operators, those of the layers that keep the size after it (activations, flatten) and
    its weights; on each arrow the shape it passes on (maps@H×W, or a vector's length); the
    graph's ``outputs`` on the right. ``layers``: what
    :func:`~lenet_xp.tools.export.reading.layer_nodes` reads of the graph."""
    return save_figure(_onnx_graph_figure(layers, title, outputs), path)


def _onnx_graph_figure(layers, title, outputs):
    from matplotlib.patches import FancyBboxPatch

    boxes, ends = _onnx_boxes(layers, outputs)
    width, gap, height = 1.3, 0.32, 1.7
    arrow = {"arrowstyle": "-|>", "color": "0.3", "shrinkA": 0, "shrinkB": 0}
    right = len(boxes) * (width + gap) + 1.45
    fig = new_figure((0.72 * (right + 0.95), 2.55))
    ax = fig.add_subplot()
    ax.set_xlim(-0.95, right)
    ax.set_ylim(-0.95, 0.95)
    ax.set_axis_off()
    ax.annotate("", xy=(0, 0), xytext=(-0.3, 0), arrowprops=arrow)
    ax.text(-0.33, 0, "digits\nN×28×28\nuint8", ha="right", va="center", fontsize=8)
    for index, box in enumerate(boxes):
        left, middle = index * (width + gap), index * (width + gap) + width / 2
        weights = sum(layer.weights for layer in box)
        ax.add_patch(FancyBboxPatch((left, -height / 2), width, height, fc="#e3ebf6" if weights
                                    else "0.93", ec="0.45", boxstyle="round,pad=0,rounding_size=0.06"))
        ax.text(middle, height / 2 - 0.1, box[0].name, ha="center", va="top", fontsize=11,
                weight="bold")
        ax.text(middle, height / 2 - 0.38, _map_shape(box[-1].shape), ha="center", va="top",
                fontsize=8)
        lines = _op_lines(box[0].ops) + [line for layer in box[1:]
                                         for line in _op_lines(layer.ops, f"{layer.name}: ")]
        ax.text(middle, height / 2 - 0.66, "\n".join(lines), ha="center", va="top", fontsize=7,
                linespacing=1.4, color="0.15")
        if weights:
            ax.text(middle, -height / 2 + 0.08, f"{weights:,} weights", ha="center",
                    va="bottom", fontsize=7, color="0.4")
        if index + 1 < len(boxes):
            ax.annotate("", xy=(left + width + gap, 0), xytext=(left + width, 0), arrowprops=arrow)
    left = len(boxes) * (width + gap)
    for row, layer in enumerate(ends):
        y = 0.56 * (len(ends) - 1) / 2 - 0.56 * row
        ax.annotate("", xy=(left, y), xytext=(left - gap, 0), arrowprops=arrow)
        ax.text(left + 0.06, y, f"{layer.name}  {_map_shape(layer.shape, batch=True)}\n"
                f"{'·'.join(layer.ops)}", ha="left", va="center", fontsize=7.5,
                bbox={"boxstyle": "round,pad=0.3", "fc": "#fbf0dc", "ec": "0.5"})
    fig.suptitle(title or "The exported graph", fontsize=11)
    return fig


def _op_lines(ops, prefix="", width=16) -> list[str]:
    """ONNX operators joined by "·", broken into lines of about ``width`` characters."""
    lines = [prefix]
    for op in ops:
        joined = lines[-1] + ("·" if lines[-1] and lines[-1] != prefix else "") + op
        if len(joined) > width and lines[-1] and lines[-1] != prefix:
            lines.append(op)
        else:
            lines[-1] = joined
    return lines


def _onnx_boxes(layers, outputs):
    """The layers as the figure's boxes (lists of layers) and its outputs: a box starts at
    each layer that changes the number of values per digit or has weights."""
    boxes: list[list] = []
    ends: list = []
    for layer in layers:
        if layer.name in outputs:
            ends.append(layer)
        elif boxes and not layer.weights and math.prod(layer.shape[1:]) == math.prod(
                boxes[-1][-1].shape[1:]):
            boxes[-1].append(layer)
        else:
            boxes.append([layer])
    return boxes, ends


def _map_shape(shape, batch=False) -> str:
    """(N, C, H, W) as "C@H×W" (the paper's "6@28x28"), (N, D) as "D"; with ``batch``
    "N×…"."""
    sizes = shape[1:]
    text = f"{sizes[0]}@{sizes[1]}×{sizes[2]}" if len(sizes) == 3 else "×".join(map(str, sizes))
    return "×".join(filter(None, [str(shape[0]) if batch else "", text]))
