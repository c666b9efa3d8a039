"""What each layer of a network does, for the Draw page: one stage per layer, each with one
sentence (what it does, its shape) and its formula, and what the page needs to show any unit
of it: the layer's geometry and parameters (kernels, biases, coefficients, prototypes), and for
a digit every stage's values.

Stages: ``input`` (the digit as the network takes it, padded and normalised), then every
layer but those that change nothing a reader sees (Flatten reshapes, Dropout passes its
input on unchanged outside training), then ``scores`` (the loss's scores of the last layer's
outputs: a softmax, or the MAP posterior with its share for "none of these"). Activations are
stages of their own, so every model shows the same steps: a convolution's own output
y = b + Σ w·x, then its squashing or ReLU, wherever the network puts it.

Arrays travel as ``{"shape": [...], "data": base64}`` of float32 numbers, little-endian (the
page reads them into a Float32Array).
"""

from __future__ import annotations

import base64

import numpy as np

from ..backend import to_numpy
from ..backends.base import Array
from ..inference import TrainedModel
from ..layers import (
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    EuclideanRBF,
    Flatten,
    Linear,
    MaxPool2d,
    ReLU,
    RepeatMaps,
    ScaledTanh,
    Sigmoid,
    Subsample2d,
    Tanh,
    Zoom2d,
)
from ..losses import MAPLoss, RBFCrossEntropy

#: layers without a stage of their own: they change nothing a reader sees
UNSHOWN = (Flatten, Dropout)


def floats_json(values) -> dict:
    """An array -> ``{"shape", "data"}``: its float32 numbers, base64, row-major."""
    values = np.ascontiguousarray(to_numpy(values), dtype="<f4")
    return {"shape": list(values.shape), "data": base64.b64encode(values.tobytes()).decode("ascii")}


def shown_layers(model: TrainedModel) -> list[tuple[str, object]]:
    """(name, layer) of every layer that is a stage, in order."""
    return [(name, layer) for name, layer in model.network.named_layers()
            if not isinstance(layer, UNSHOWN)]


def activations(model: TrainedModel, digit: np.ndarray) -> tuple[list[np.ndarray], object]:
    """Every stage's values for one (28, 28) uint8 digit, on the host: the input (1, S, S),
    each shown layer's output without the batch axis, and the scores (K,); and the network's
    outputs (1, K) on its device, for :meth:`TrainedModel.predictions`."""
    x: Array = model.prepare(digit)
    values = [to_numpy(x[0, ...])]
    for layer in model.network.layers:
        x = layer.forward(x)
        if not isinstance(layer, UNSHOWN):
            values.append(to_numpy(x[0, ...]))
    values.append(to_numpy(model.loss.scores(x)[0, ...]))
    return values, x


def network_json(model: TrainedModel) -> list[dict]:
    """Every stage of ``model`` without its values: ``name``, ``layer`` (the class),
    ``shape``, ``kind`` (``"maps"``: (C, h, w) with h·w > 1; ``"vector"``; ``"classes"``:
    one value per class), ``sentence`` and ``formula`` (what it does, in words and as an
    equation), ``op`` (what the page computes a unit with: type and geometry) and ``params``
    (the arrays it needs: kernels, biases, ...)."""
    blank = np.zeros((28, 28), np.uint8)
    values, _ = activations(model, blank)
    layers = shown_layers(model)
    classes = values[-1].shape[0]
    stages = [_input_stage(model, values[0])]
    for index, (name, layer) in enumerate(layers):
        before, after = values[index], values[index + 1]
        stage = {"name": name, "layer": type(layer).__name__, "shape": list(after.shape),
                 "kind": _kind(after, classes), "params": {}}
        stage.update(_describe(layer, before.shape, after.shape, stages[-1]["name"]))
        stages.append(stage)
    stages.append(_scores_stage(model, classes))
    return stages


def _kind(values: np.ndarray, classes: int) -> str:
    if values.ndim == 3 and values.shape[1] * values.shape[2] > 1:
        return "maps"
    return "classes" if values.shape == (classes,) else "vector"


def _input_stage(model: TrainedModel, values: np.ndarray) -> dict:
    size = values.shape[-1]
    background, ink = model.prepare(np.zeros((28, 28), np.uint8)), model.prepare(
        np.full((28, 28), 255, np.uint8))
    low, high = float(to_numpy(background).min()), float(to_numpy(ink).max())
    padded = f", padded to {size}×{size}" if size != 28 else ""
    return {"name": "input", "layer": "input", "shape": list(values.shape), "kind": "maps",
            "sentence": f"The 28×28 digit{padded}, its grey levels 0..255 mapped to "
                        f"{low:.3g} (background) .. {high:.3g} (ink), as in training",
            "formula": f"x = {low:.3g} + {(high - low) / 255:.3g} · level", "op": {"type": "input"},
            "params": {}}


def _scores_stage(model: TrainedModel, classes: int) -> dict:
    loss = model.loss
    stage = {"name": "scores", "layer": type(loss).__name__, "shape": [classes],
             "kind": "classes", "params": {}}
    if isinstance(loss, MAPLoss):
        stage.update(sentence="The MAP criterion's posterior: each digit's share, beside a "
                              f"class 'none of these' of fixed penalty j = {loss.j:g}, which "
                              "takes what the ten leave",
                     formula="P_i = e^(−y_i) / (e^(−j) + Σ_k e^(−y_k))",
                     op={"type": "map", "j": loss.j})
    elif isinstance(loss, RBFCrossEntropy):
        stage.update(sentence="A softmax of the negated penalties: probabilities that sum to 1",
                     formula="p_i = e^(−y_i) / Σ_k e^(−y_k)", op={"type": "softmax_negated"})
    else:
        stage.update(sentence="A softmax of the outputs: probabilities that sum to 1",
                     formula="p_i = e^(y_i) / Σ_k e^(y_k)", op={"type": "softmax"})
    return stage


def _maps(shape) -> str:
    """(C, h, w) -> '6 maps of 28×28'; (F,) -> '84 values'."""
    if len(shape) == 3 and shape[1] * shape[2] > 1:
        return f"{shape[0]} map{'s' if shape[0] != 1 else ''} of {shape[1]}×{shape[2]}"
    count = int(np.prod(shape))
    return f"{count} value{'s' if count != 1 else ''}"


def _describe(layer, before: tuple, after: tuple, source: str) -> dict:
    """``sentence``, ``formula``, ``op`` and ``params`` of one layer, which turns ``before``
    (the shape of stage ``source``) into ``after``."""
    out = _maps(after)
    if isinstance(layer, Conv2d):
        return _conv(layer, before, after, source)
    if isinstance(layer, (MaxPool2d, AvgPool2d, Subsample2d)):
        k, s = layer.kernel_size, layer.stride
        window = f"each {k}×{k} window" + (f" ({s} apart)" if s != k else "")
        op = {"type": "max" if isinstance(layer, MaxPool2d) else
              "mean" if isinstance(layer, AvgPool2d) else "subsample", "kernel": k, "stride": s}
        if isinstance(layer, MaxPool2d):
            return {"sentence": f"The largest value of {window} of each map: {out}",
                    "formula": "y = max x", "op": op}
        if isinstance(layer, AvgPool2d):
            return {"sentence": f"The mean of {window} of each map: {out}",
                    "formula": f"y = (1/{k * k}) Σ x", "op": op}
        return {"sentence": f"The sum of {window}, times a trained coefficient c of its map, "
                            f"plus a bias b: {out}", "formula": "y = b + c · Σ x", "op": op,
                "params": {"coefficient": floats_json(layer.coefficient.data),
                           "bias": floats_json(layer.bias.data)}}
    if isinstance(layer, ReLU):
        return {"sentence": f"Negative values set to 0: {out}", "formula": "y = max(0, x)",
                "op": {"type": "relu"}}
    if isinstance(layer, ScaledTanh):
        amplitude, slope = layer.amplitude, layer.slope
        return {"sentence": f"Squashed into (−{amplitude:g}, {amplitude:g}) by the paper's "
                            f"scaled tanh: {out}",
                "formula": f"y = {amplitude:g} tanh({slope:.4g} x)",
                "op": {"type": "scaled_tanh", "amplitude": amplitude, "slope": slope}}
    if isinstance(layer, Tanh):
        return {"sentence": f"Squashed into (−1, 1): {out}", "formula": "y = tanh x",
                "op": {"type": "scaled_tanh", "amplitude": 1.0, "slope": 1.0}}
    if isinstance(layer, Sigmoid):
        return {"sentence": f"Squashed into (0, 1): {out}", "formula": "y = 1 / (1 + e^(−x))",
                "op": {"type": "sigmoid"}}
    if isinstance(layer, (BatchNorm1d, BatchNorm2d)):
        what = "map" if isinstance(layer, BatchNorm2d) else "value"
        return {"sentence": f"Each {what} shifted and scaled by the mean μ and variance σ² "
                            f"it had in training, then by a trained γ and β: {out}",
                "formula": "y = γ (x − μ) / √(σ² + ε) + β",
                "op": {"type": "batchnorm", "eps": layer.eps},
                "params": {"gamma": floats_json(layer.gamma.data),
                           "beta": floats_json(layer.beta.data),
                           "mean": floats_json(layer.running_mean),
                           "var": floats_json(layer.running_var)}}
    if isinstance(layer, Zoom2d):
        return {"sentence": f"The digit shrunk to {layer.scale:.0%} about its centre (MNIST's "
                            f"20×20 digits become {round(20 * layer.scale)}×"
                            f"{round(20 * layer.scale)}), each pixel the mean of what it "
                            f"covers: {out}",
                "formula": "y = R x Rᵀ", "op": {"type": "zoom"},
                "params": {"matrix": floats_json(layer.matrix)}}
    if isinstance(layer, RepeatMaps):
        return {"sentence": f"Each of {source}'s maps copied {layer.copies} times: {out}",
                "formula": f"y[{layer.copies}c + j] = x[c]",
                "op": {"type": "repeat", "copies": layer.copies}}
    if isinstance(layer, Linear):
        inputs = int(np.prod(before))
        flat = (f" (its {_maps(before)}, flattened)" if len(before) == 3 and before[1] * before[2] > 1
                else "")
        bias = "b + " if layer.bias is not None else ""
        return {"sentence": f"Each of the {after[0]} units weighs all {inputs} values of "
                            f"{source}{flat}: {out}", "formula": f"y = {bias}Σ w·x",
                "op": {"type": "dense"}}
    if isinstance(layer, EuclideanRBF):
        return {"sentence": f"Each digit's prototype (for the paper, a 7×12 bitmap of ±1) is "
                            f"compared with {source}'s {before[0]} values: the penalty is the "
                            "squared distance, and the smallest penalty wins",
                "formula": "y_i = Σ_j (x_j − w_ij)²", "op": {"type": "rbf"},
                "params": {"prototypes": floats_json(layer.centres)}}
    raise TypeError(f"no description for a {type(layer).__name__} layer")


def _conv(layer: Conv2d, before: tuple, after: tuple, source: str) -> dict:
    k, s, p = layer.kernel_size, layer.stride, layer.padding
    channels = before[0]
    weight = to_numpy(layer.weight.data)
    mask = layer.weight.mask
    reads = ([[int(c) for c in np.flatnonzero(row)] for row in to_numpy(mask)[:, :, 0, 0]]
             if mask is not None else [list(range(channels))] * layer.out_channels)
    source_maps = (f"{source}'s {_maps(before)}" if channels > 1
                   else f"the {before[1]}×{before[2]} {source}")
    border = f" with a border of {p} zero{'s' if p > 1 else ''}" if p else ""
    step = f", {s} pixels at a time" if s > 1 else ""
    if mask is not None:
        counts = sorted({len(r) for r in reads})
        told = ", ".join(map(str, counts[:-1])) + f" or {counts[-1]}" if len(counts) > 1 else str(counts[0])
        per_map = f", each reading {told} of them (a connection table)"
    elif channels > 1:
        per_map = f", each reading all {channels}"
    else:
        per_map = ""
    whole = after[1] * after[2] == 1 if len(after) == 3 else False
    verb = "cover" if whole else "slide over"
    bias = "b + " if layer.bias is not None else ""
    sentence = (f"{layer.out_channels} kernels of {k}×{k} {verb} {source_maps}{border}{step}"
                f"{per_map}: {_maps(after) if not whole else f'{after[0]} values'}")
    if layer.bias is None:
        sentence += " (no bias: the batch normalisation after it shifts)"
    bias_values = layer.bias.data if layer.bias is not None else np.zeros(layer.out_channels, np.float32)
    return {"sentence": sentence, "formula": f"y = {bias}Σ w·x",
            "op": {"type": "conv", "kernel": k, "stride": s, "padding": p, "reads": reads},
            "params": {"weight": floats_json(weight), "bias": floats_json(bias_values)}}
