"""Each layer class and each loss as the few ONNX operators of its formula: one small function
per class, in the tables :data:`MAPPINGS` (layers) and :data:`SCORES_MAPPINGS` (the class
scores and labels of a loss). Why each maps as it does: :mod:`lenet_xp.tools.export`."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ... import layers as lenet_layers  # the mapping table is keyed by these classes
from ...backend import to_numpy
from ...losses import MAPLoss, RBFCrossEntropy, SoftmaxCrossEntropy
from .graph import LABELS, SCORES, ExportError, Graph


def chain(graph: Graph, network, x: str, prefix: str) -> str:
    """Each layer of a Sequential by its mapping, in order; returns the last tensor."""
    for name, layer in network.named_layers():
        mapping = MAPPINGS.get(type(layer))
        if mapping is None:
            kind = type(layer)
            raise ExportError(f"cannot export layer {prefix + name!r}: {kind.__module__}."
                              f"{kind.__qualname__} has no ONNX mapping (lenet_xp's export maps "
                              f"{class_names(MAPPINGS)}; add a function for it to "
                              "lenet_xp.tools.export.MAPPINGS)")
        x = mapping(graph, prefix + name, layer, x)
    return x


def class_names(table: dict) -> str:
    """The class names of a mapping table, for the messages."""
    return ", ".join(sorted(kind.__name__ for kind in table))


# ---- one function per layer class: (graph, name, layer, input) -> output ---------------------

def _conv(graph, name, layer, x):
    """Conv2d -> Conv with its (F, C, k, k) weights (zeros where a connection table has no
    link), whatever ``block`` the layer computes with."""
    k, s, p = layer.kernel_size, layer.stride, layer.padding
    return graph.node("Conv", [x, *_weight_and_bias(graph, name, layer)],
                      name, kernel_shape=[k, k], strides=[s, s], pads=[p, p, p, p])


def _weight_and_bias(graph, name, layer) -> list[str]:
    """The constants of a Conv2d's or Linear's weight and, unless it has none (``bias=False``,
    before batch normalisation), its bias: ONNX's Conv and Gemm take the bias as optional."""
    names = [graph.weight(f"{name}.weight", layer.weight.data)]
    if layer.bias is not None:
        names.append(graph.weight(f"{name}.bias", layer.bias.data))
    return names


def _pool(op: str):
    """MaxPool2d, AvgPool2d -> MaxPool, AveragePool over k×k windows with stride s."""
    def pool(graph, name, layer, x):
        k, s = layer.kernel_size, layer.stride
        return graph.node(op, [x], name, kernel_shape=[k, k], strides=[s, s])
    return pool


def _subsample(graph, name, layer, x):
    """Subsample2d, y = a·Σ_window x + b per map -> AveragePool, Mul by a·k², Add b."""
    average = _pool("AveragePool")(graph, f"{name}/average", layer, x)
    area = layer.kernel_size ** 2
    coefficient = np.reshape(to_numpy(layer.coefficient.data), (-1, 1, 1)) * area
    scaled = graph.node("Mul", [average, graph.weight(f"{name}.scale", coefficient)],
                        f"{name}/scale")
    bias = np.reshape(to_numpy(layer.bias.data), (-1, 1, 1))
    return graph.node("Add", [scaled, graph.weight(f"{name}.bias", bias)], name)


def _linear(graph, name, layer, x):
    """Linear, y = x Wᵀ + b -> Gemm with transB = 1."""
    return graph.node("Gemm", [x, *_weight_and_bias(graph, name, layer)], name, transB=1)


def _flatten(graph, name, layer, x):
    """Flatten, (N, C, H, W) -> (N, C·H·W) row-major -> Flatten at axis 1."""
    return graph.node("Flatten", [x], name, axis=1)


def _elementwise(op: str):
    """ReLU, Sigmoid, Tanh -> Relu, Sigmoid, Tanh."""
    def activation(graph, name, layer, x):
        return graph.node(op, [x], name)
    return activation


def _scaled_tanh(graph, name, layer, x):
    """ScaledTanh, y = A·tanh(S·a) -> Mul by S, Tanh, Mul by A."""
    inner = graph.node("Mul", [x, graph.weight(f"{name}.slope", layer.slope)], f"{name}/slope")
    squashed = graph.node("Tanh", [inner], f"{name}/tanh")
    return graph.node("Mul", [squashed, graph.weight(f"{name}.amplitude", layer.amplitude)], name)


def _rbf(graph, name, layer, x):
    """EuclideanRBF, y_i = Σ_j (x_j − w_ij)² -> x as (N, 1, D), Sub the (K, D) prototypes,
    Mul by itself, ReduceSum over D."""
    rows = graph.node("Unsqueeze", [x, graph.ints(1)], f"{name}/rows")
    difference = graph.node("Sub", [rows, graph.weight(f"{name}.prototypes", layer.centres)],
                            f"{name}/difference")
    square = graph.node("Mul", [difference, difference], f"{name}/square")
    return graph.node("ReduceSum", [square, graph.ints(2)], name, keepdims=0)


def _zoom(graph, name, layer, x):
    """Zoom2d, y = R x Rᵀ per image and map -> MatMul by R on the left, then by Rᵀ on the
    right (ONNX's MatMul broadcasts the (S, S) matrix over N and C, as numpy's does)."""
    matrix = to_numpy(layer.matrix)
    rows = graph.node("MatMul", [graph.weight(f"{name}.matrix", matrix), x], f"{name}/rows")
    return graph.node("MatMul", [rows, graph.weight(f"{name}.matrix_t", matrix.T)], name)


def _repeat_maps(graph, name, layer, x):
    """RepeatMaps, y[:, c·k + j] = x[:, c] -> x as (N, C, 1, H, W), Expand to k copies along
    the new axis, Reshape to (N, C·k, H, W) (the shape: x's, times (1, k, 1, 1))."""
    k = layer.copies
    copies = graph.node("Expand", [graph.node("Unsqueeze", [x, graph.ints(2)], f"{name}/axis"),
                                   graph.ints(1, 1, k, 1, 1)], f"{name}/copies")
    shape = graph.node("Mul", [graph.node("Shape", [x], f"{name}/input_shape"),
                               graph.ints(1, k, 1, 1)], f"{name}/shape")
    return graph.node("Reshape", [copies, shape], name)


def _dropout(graph, name, layer, x):
    """Dropout -> nothing: the identity at inference."""
    return x


def _sequential(graph, name, layer, x):
    """A Sequential inside the network -> its layers, named ``name.inner``."""
    return chain(graph, layer, x, prefix=f"{name}.")


def _batchnorm(graph, name, layer, x):
    """BatchNorm1d/2d in evaluation mode, y = γ (x − μ)/√(σ² + ε) + β per channel with the
    running statistics μ, σ² -> BatchNormalization."""
    values = [graph.weight(f"{name}.{field}", value) for field, value in (
        ("gamma", layer.gamma.data), ("beta", layer.beta.data),
        ("running_mean", layer.running_mean), ("running_var", layer.running_var))]
    return graph.node("BatchNormalization", [x, *values], name, epsilon=float(layer.eps),
                      training_mode=0)


MAPPINGS: dict[type, Callable] = {
    lenet_layers.Conv2d: _conv,
    lenet_layers.MaxPool2d: _pool("MaxPool"),
    lenet_layers.AvgPool2d: _pool("AveragePool"),
    lenet_layers.Subsample2d: _subsample,
    lenet_layers.Linear: _linear,
    lenet_layers.Flatten: _flatten,
    lenet_layers.ReLU: _elementwise("Relu"),
    lenet_layers.Sigmoid: _elementwise("Sigmoid"),
    lenet_layers.Tanh: _elementwise("Tanh"),
    lenet_layers.ScaledTanh: _scaled_tanh,
    lenet_layers.EuclideanRBF: _rbf,
    lenet_layers.Dropout: _dropout,
    lenet_layers.Sequential: _sequential,
    lenet_layers.Zoom2d: _zoom,
    lenet_layers.RepeatMaps: _repeat_maps,
    lenet_layers.BatchNorm1d: _batchnorm,
    lenet_layers.BatchNorm2d: _batchnorm,
}
"""Layer class -> its ONNX mapping ``(graph, name, layer, input tensor) -> output tensor``.
Exact classes: a subclass may compute something else, so it needs its own entry."""


# ---- the class scores and labels of each loss: (graph, loss, outputs) -------------------------

def _softmax_scores(graph, loss, outputs):
    """SoftmaxCrossEntropy: softmax of the logits; labels argmax."""
    graph.node("Softmax", [outputs], SCORES, axis=1)
    graph.node("ArgMax", [outputs], LABELS, axis=1, keepdims=0)


def _rbf_softmax_scores(graph, loss, outputs):
    """RBFCrossEntropy: softmax of the negated penalties; labels argmin."""
    graph.node("Softmax", [graph.node("Neg", [outputs], f"{SCORES}/negate")], SCORES, axis=1)
    graph.node("ArgMin", [outputs], LABELS, axis=1, keepdims=0)


def _map_posterior_scores(graph, loss, outputs):
    """MAPLoss: e^−y_i / (e^−j + Σ_k e^−y_k), the softmax of (−y, −j) without its last
    column; labels argmin."""
    negated = graph.node("Neg", [outputs], f"{SCORES}/negate")
    with_rubbish = graph.node("Pad", [negated, graph.ints(0, 0, 0, 1),
                                      graph.weight(f"{SCORES}.rubbish", -loss.j)],
                              f"{SCORES}/rubbish")
    posterior = graph.node("Softmax", [with_rubbish], f"{SCORES}/softmax", axis=1)
    graph.node("Slice", [posterior, graph.ints(0), graph.ints(-1), graph.ints(1)], SCORES)
    graph.node("ArgMin", [outputs], LABELS, axis=1, keepdims=0)


SCORES_MAPPINGS: dict[type, Callable] = {
    SoftmaxCrossEntropy: _softmax_scores,
    RBFCrossEntropy: _rbf_softmax_scores,
    MAPLoss: _map_posterior_scores,
}
"""Loss class -> the function adding the ``scores`` and ``labels`` nodes."""
