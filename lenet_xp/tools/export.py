"""A trained model as an ONNX graph, layer for layer, for ONNX Runtime, Netron and converters.

    >>> import lenet_xp
    >>> from lenet_xp.export import to_onnx
    >>> to_onnx(lenet_xp.load_model("runs/lenet5/model.npz"), "lenet5.onnx")

``scripts/export.py`` does the same from the command line and checks the file in ONNX Runtime.
onnx is an optional dependency (``pip install "lenet_xp[onnx]"``), imported only here, when a
function needs it; ONNX Runtime only to run the graph (:func:`compare`, :func:`benchmark`).

The graph takes what a user has and gives what ``scripts/predict.py`` prints:

=========  ===================  =================================================================
digits     (N, 28, 28) uint8    raw digits, ink 255 on black 0 as in MNIST; N is free
scores     (N, K) float32       the loss's class scores: softmax probabilities, or for the
                                paper's RBF output the MAP posterior e^−y_i / (e^−j + Σ_k e^−y_k)
labels     (N,) int64           the classes by the loss's own rule: argmax of the logits,
                                argmin of the RBF penalties
outputs    (N, K) float32       the network's raw outputs (logits, or RBF penalties)
=========  ===================  =================================================================

In between, the model's own preparation recorded in its checkpoint (as
:meth:`lenet_xp.inference.TrainedModel.prepare`: to float, padded with background 0 to the
input size, x·scale + offset in float32), then each layer as the few ONNX operators that
compute its formula, one small function per layer class (:data:`MAPPINGS`):

=====================  ===================================================================
lenet_xp layer         ONNX operators
=====================  ===================================================================
Conv2d                 Conv (weights (F, C, k, k), bias unless bias=False, stride, padding)
MaxPool2d, AvgPool2d   MaxPool, AveragePool
Subsample2d            AveragePool, Mul by a·k², Add b (per map): a·Σ_window x + b
Linear                 Gemm (transB = 1): x Wᵀ + b (b unless bias=False)
Flatten                Flatten (axis 1)
ReLU, Sigmoid, Tanh    Relu, Sigmoid, Tanh
ScaledTanh             Mul by S, Tanh, Mul by A: A·tanh(S·a)
EuclideanRBF           Unsqueeze, Sub the prototypes, Mul by itself, ReduceSum: Σ_j (x_j − w_ij)²
Dropout                nothing: the identity at inference
Sequential             its layers, named ``outer.inner``
BatchNorm1d, 2d        BatchNormalization (training_mode 0) with the running statistics:
                       γ (x − μ)/√(σ² + ε) + β per channel
Zoom2d                 MatMul by R, MatMul by Rᵀ: R x Rᵀ (LeNet-1's 16×16 digits)
RepeatMaps             Unsqueeze, Expand to k copies, Reshape to (N, C·k, H, W) (LeNet-4's S2)
=====================  ===================================================================

A layer or loss with no mapping is an :class:`ExportError` naming it, never a wrong graph.
Node names are the layers' names: a layer's last node, and the tensor it makes, is called
``C1``, ``S2``, ...; its helper nodes ``S2/average``, ``S2/scale``; its weights keep their
parameter names (``C1.weight``). Netron thus draws the network as the paper does, and the
whole of the paper's LeNet-5 is 44 nodes.

Decisions, and why:

- **C3's connection table is one Conv whose unconnected weights are zero**, as lenet_xp
  stores it, not one Conv per C3 map. ONNX's ``group`` splits the input maps into equal,
  disjoint groups; table I's overlapping sets of 3, 4 and 6 maps are no such groups, so the
  per-map form takes 16 Gathers, 16 Convs and a Concat: 33 nodes for one layer, 16 small
  matrix products in the runtime. One Conv is one node called C3 and one product; the price
  is 900 zero weights of 2,400 (3.6 kB of the file) and 90,000 multiply-adds per digit that
  the sparse layer skips.
- **Trainable subsampling is AveragePool, then a per-map Mul and Add**: it reads as the paper
  says it (the average of the window, times a trainable coefficient, plus a trainable bias;
  the Mul carries a·k² since the pool divides by k²). A depthwise Conv (``group`` = C, every
  tap a[c]) would be one node, but would read as a convolution, its weights each
  coefficient k² times.
- **The scaled tanh is its formula**, Mul, Tanh, Mul, in lenet_xp's order (tanh(S·a), then
  ×A): ONNX has no such operator.
- **The RBF layer is its squared distances**, (x_j − w_ij)² summed over j (N·K·D values, 840
  per digit), not ‖x‖² − 2 x·w_i + ‖w_i‖² through a Gemm: that subtracts numbers near 84 to
  get penalties near 1 and loses two of float32's seven digits.
- **The MAP posterior** is −y padded with a column −j (Pad), a Softmax over the K + 1 values
  and a Slice of the first K: eq. 9's softmax over the classes and the rubbish class, with
  the same largest-value shift as :class:`lenet_xp.losses.MAPLoss`. ``labels`` come from
  the raw outputs, not the scores: far from every bitmap all posteriors underflow to 0 and
  their argmax says nothing.
- **Dropout is left out** (no node): at inference it is the identity.
- **Conv2d's ``block``** changes how lenet_xp computes a convolution, not its weights, which
  are stored (F, C, k, k) whatever the block: the export is the mathematical convolution.
- **float32**, whatever the model was trained in: what every runtime has kernels for.
- **Opset 15, IR version 8.** The operators used have had their present form since opset 13
  (Pad, Unsqueeze, ReduceSum and Slice take their axes and pads as inputs since 13), but
  BatchNormalization before opset 14 has no ``training_mode``: onnx's own reference runtime
  (``onnx.reference.ReferenceEvaluator``) then computed batch statistics for ``bn_cnn``'s graph
  where ONNX Runtime and lenet_xp use the running ones (scores up to 0.96 apart). From 15 on
  the node says ``training_mode = 0``, and every runtime reads the graph one way (the tests run
  each zoo model in both). ONNX Runtime reads opset 15 from 1.10 (2021) on, in Python, C,
  C++, C#, Java, on phones and in the browser, and the converters to PyTorch and TensorFlow
  read it. IR version 8 is opset 15's (ONNX 1.10); the onnx package would otherwise stamp its
  newest one, which older runtimes refuse.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable

import numpy as np

from .._version import __version__
from .. import layers as lenet_layers  # the mapping table is keyed by these classes
from ..atomic import atomic_file
from ..backend import to_numpy
from ..data import PixelStats, normalisation_affine
from ..inference import TrainedModel
from .timing import median_seconds
from ..losses import MAPLoss, RBFCrossEntropy, SoftmaxCrossEntropy

OPSET = 15
IR_VERSION = 8
INSTALL = 'pip install "lenet_xp[onnx]"'
MISSING = {"onnx": f"lenet_xp's ONNX export needs the onnx package: {INSTALL}",
           "onnxruntime": "running an exported model needs ONNX Runtime: pip install onnxruntime"}
#: The graph's input and outputs (see the module docstring).
DIGITS, SCORES, LABELS, OUTPUTS = "digits", "scores", "labels", "outputs"
#: The largest difference of scores between ONNX Runtime and lenet_xp :func:`compare` accepts.
SCORE_TOLERANCE = 1e-4


class ExportError(ValueError):
    """A model that cannot be exported: a layer or loss with no ONNX mapping, or a name used
    twice in the graph."""


def to_onnx(model: TrainedModel, path=None):
    """The ONNX graph (an ``onnx.ModelProto``) of a trained model, from raw uint8 digits to
    scores, labels and raw outputs (see the module docstring). Shapes are inferred (strict)
    and stored in the graph, and ``onnx.checker`` checks it in full; with ``path`` it is also
    written there, all or nothing.

    Raises:
        ExportError: a layer or loss with no ONNX mapping, or a graph that fails onnx's
            checks (nothing is written).
        ImportError: onnx is not installed (``pip install "lenet_xp[onnx]"``).
    """
    onnx = _import("onnx")
    graph = _Graph(onnx)
    outputs = _chain(graph, model.network, _prepare(graph, model.meta["data"]), prefix="")
    scores_mapping = SCORES_MAPPINGS.get(type(model.loss))
    if scores_mapping is None:
        raise ExportError(f"cannot export the class scores of {type(model.loss).__name__}: "
                          f"lenet_xp's ONNX export knows {_names(SCORES_MAPPINGS)}")
    scores_mapping(graph, model.loss, outputs)
    graph.node("Identity", [outputs], OUTPUTS)
    helper = onnx.helper
    proto = helper.make_model(
        helper.make_graph(graph.nodes, model.name, *_interface(onnx, model), graph.constants),
        opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
        producer_name="lenet_xp", producer_version=__version__, doc_string=model.spec.description)
    helper.set_model_props(proto, {"model": model.name, "scores": model.score_name})
    try:
        proto = onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"the graph made of {model.name} fails onnx's checks, a bug in an "
                          f"export mapping (please report it): {exc}") from exc
    if path is not None:
        save(proto, path)
    return proto


def _interface(onnx, model: TrainedModel) -> tuple[list, list]:
    """The graph's input and outputs, with their shapes and what they are."""
    uint8, float32, int64 = (onnx.TensorProto.UINT8, onnx.TensorProto.FLOAT,
                             onnx.TensorProto.INT64)
    classes, info = model.classes, onnx.helper.make_tensor_value_info
    return ([info(DIGITS, uint8, ["N", 28, 28], "raw digits, ink 255 on black 0 (MNIST)")],
            [info(SCORES, float32, ["N", classes], model.score_name),
             info(LABELS, int64, ["N"], "the classes"),
             info(OUTPUTS, float32, ["N", classes], "the network's raw outputs")])


def save(exported, path) -> Path:
    """Write an exported graph (a ModelProto) to ``path``, all or nothing."""
    with atomic_file(path) as file:
        file.write(exported.SerializeToString())
    return Path(path)


# ---- the graph being built -------------------------------------------------------------------

class _Graph:
    """Nodes and constants of the graph being built. A node's output tensor has the node's
    name; every name is used once (a second use is an ExportError, not an invalid graph)."""

    def __init__(self, onnx):
        self.onnx = onnx
        self.nodes: list = []
        self.constants: list = []
        self._names = {DIGITS}

    def node(self, op: str, inputs: list[str], name: str, **attributes) -> str:
        """Append node ``name`` computing ``op`` of ``inputs``; returns its output's name."""
        self._claim(name)
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [name], name=name, **attributes))
        return name

    def weight(self, name: str, array) -> str:
        """A float32 constant (weights, a bias, a scalar factor) named ``name``."""
        return self._constant(name, np.asarray(to_numpy(array), dtype=np.float32))

    def ints(self, *values: int) -> str:
        """An int64 vector constant (axes, pads, slice bounds), shared by every node using it."""
        name = f"ints({','.join(map(str, values))})"
        return name if name in self._names else self._constant(name, np.asarray(values, np.int64))

    def _constant(self, name: str, array: np.ndarray) -> str:
        self._claim(name)
        self.constants.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def _claim(self, name: str) -> None:
        if name in self._names:
            raise ExportError(f"the name {name!r} is used twice in the graph: rename the layer "
                              f"(names {DIGITS}, {SCORES}, {LABELS}, {OUTPUTS} and prepare "
                              "are the graph's own)")
        self._names.add(name)


def _prepare(graph: _Graph, data: dict) -> str:
    """uint8 digits (N, 28, 28) -> the network's input (N, 1, S, S): to float, padded with 0
    (background) to S×S, then x·scale + offset in float32, as TrainedModel.prepare."""
    x = graph.node("Cast", [DIGITS], "prepare/float", to=graph.onnx.TensorProto.FLOAT)
    margin = data["input_size"] - 28
    if margin:
        before, after = margin // 2, margin - margin // 2  # as lenet_xp.data.pad_images
        x = graph.node("Pad", [x, graph.ints(0, before, before, 0, after, after)], "prepare/pad")
    stats = data.get("pixel_stats")
    scale, offset = normalisation_affine(data["normalisation"],
                                         PixelStats(**stats) if stats else None)
    x = graph.node("Mul", [x, graph.weight("prepare.scale", scale)], "prepare/scale")
    x = graph.node("Add", [x, graph.weight("prepare.offset", offset)], "prepare/shift")
    return graph.node("Unsqueeze", [x, graph.ints(1)], "prepare")


def _chain(graph: _Graph, network, x: str, prefix: str) -> str:
    """Each layer of a Sequential by its mapping, in order; returns the last tensor."""
    for name, layer in zip(network.names, network.layers):
        mapping = MAPPINGS.get(type(layer))
        if mapping is None:
            kind = type(layer)
            raise ExportError(f"cannot export layer {prefix + name!r}: {kind.__module__}."
                              f"{kind.__qualname__} has no ONNX mapping (lenet_xp's export maps "
                              f"{_names(MAPPINGS)}; add a function for it to "
                              "lenet_xp.export.MAPPINGS)")
        x = mapping(graph, prefix + name, layer, x)
    return x


def _names(table: dict) -> str:
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
    return _chain(graph, layer, x, prefix=f"{name}.")


def _batchnorm(graph, name, layer, x):
    """BatchNorm1d/2d in evaluation mode, y = γ (x − μ)/√(σ² + ε) + β per channel with the
    running statistics μ, σ² -> BatchNormalization."""
    values = [graph.weight(f"{name}.{field}", value) for field, value in (
        ("gamma", layer.gamma.data), ("beta", layer.beta.data),
        ("running_mean", layer.running_mean), ("running_var", layer.running_var))]
    return graph.node("BatchNormalization", [x, *values], name, epsilon=float(layer.eps),
                      training_mode=0)


#: Layer class -> its ONNX mapping ``(graph, name, layer, input tensor) -> output tensor``.
#: Exact classes: a subclass may compute something else, so it needs its own entry.
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


#: Loss class -> the function adding the ``scores`` and ``labels`` nodes.
SCORES_MAPPINGS: dict[type, Callable] = {
    SoftmaxCrossEntropy: _softmax_scores,
    RBFCrossEntropy: _rbf_softmax_scores,
    MAPLoss: _map_posterior_scores,
}


# ---- reading an exported graph ---------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class LayerNodes:
    """One layer's share of an exported graph: its ``name`` (the part of its node names
    before any "/"), its ONNX ``ops`` in order, its output ``shape`` ("N" for the batch) and
    its ``weights`` (values in its float constants of more than one value: weights, biases,
    prototypes; not scalar factors, axes or pads)."""

    name: str
    ops: tuple[str, ...]
    shape: tuple
    weights: int


def layer_nodes(exported) -> list[LayerNodes]:
    """The nodes of an exported graph (a ModelProto from :func:`to_onnx`) grouped by layer,
    in graph order: ``prepare``, C1, A1, ..., then ``scores``, ``labels``, ``outputs``."""
    float32 = _import("onnx").TensorProto.FLOAT
    graph = exported.graph
    sizes = {c.name: int(np.prod(c.dims, dtype=np.int64)) for c in graph.initializer
             if c.data_type == float32}
    shapes = {info.name: tuple(d.dim_param or d.dim_value for d in info.type.tensor_type.shape.dim)
              for info in [*graph.value_info, *graph.output]}
    groups: dict[str, list] = {}
    for node in graph.node:
        groups.setdefault(node.name.split("/")[0], []).append(node)
    return [LayerNodes(name=name, ops=tuple(node.op_type for node in nodes),
                       shape=shapes.get(nodes[-1].output[0], ()),
                       weights=sum(sizes[i] for i in {i for node in nodes for i in node.input}
                                   if sizes.get(i, 0) > 1))
            for name, nodes in groups.items()]


# ---- running it in ONNX Runtime ---------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Agreement:
    """ONNX Runtime's results against lenet_xp's on ``count`` digits: how many labels agree,
    the largest score difference, and the largest raw-output difference over the outputs'
    scale, max(1, largest |output|) (RBF penalties and untrained logits run into the
    hundreds)."""

    count: int
    same_labels: int
    score_difference: float
    output_difference: float

    @property
    def agrees(self) -> bool:
        """Every label equal and every score within :data:`SCORE_TOLERANCE`."""
        return self.same_labels == self.count and self.score_difference <= SCORE_TOLERANCE


def onnx_session(exported):
    """An ONNX Runtime CPU session of an exported graph (a ModelProto or a file's path).

    Raises ImportError when onnxruntime is not installed."""
    runtime = _import("onnxruntime")
    source = (os.fspath(exported) if isinstance(exported, (str, os.PathLike))
              else exported.SerializeToString())
    return runtime.InferenceSession(source, providers=["CPUExecutionProvider"])


def compare(model: TrainedModel, exported, digits: np.ndarray) -> Agreement:
    """Classify uint8 ``digits`` (N, 28, 28) with ``model`` in lenet_xp and with its export
    in ONNX Runtime (CPU), and compare labels, scores and raw outputs."""
    scores, labels, outputs = onnx_session(exported).run([SCORES, LABELS, OUTPUTS],
                                                         {DIGITS: digits})
    outputs_here = model.outputs(model.prepare(digits))
    ours = model.predictions(outputs_here)
    raw = to_numpy(outputs_here).astype(np.float64)
    return Agreement(count=len(digits), same_labels=int(np.sum(labels == ours.labels)),
                     score_difference=float(np.max(np.abs(scores - ours.scores))),
                     output_difference=float(np.max(np.abs(outputs - raw))
                                             / max(1.0, float(np.max(np.abs(raw))))))


@dataclasses.dataclass(frozen=True)
class Timing:
    """Median seconds to classify one batch of ``batch_size`` digits, from uint8 pixels to
    scores and labels, in lenet_xp and in ONNX Runtime."""

    batch_size: int
    lenet_xp: float
    onnx_runtime: float


#: untimed calls before each timing of :func:`benchmark`
WARMUP_CALLS = 5


def benchmark(model: TrainedModel, exported, batch_sizes=(1, 1000), calls: int = 50,
              seed: int = 0) -> list[Timing]:
    """Time ``model.predict`` against the export's ONNX Runtime session (CPU, its default
    threads) on the same random digits: the median of ``calls`` calls per batch size, after
    five warm-up calls each."""
    session = onnx_session(exported)
    digits = np.random.default_rng(seed).integers(0, 256, (max(batch_sizes), 28, 28), np.uint8)
    timings = []
    for batch_size in batch_sizes:
        batch = digits[:batch_size]
        timings.append(Timing(
            batch_size, median_seconds(lambda: model.predict(batch), WARMUP_CALLS, calls),
            median_seconds(lambda: session.run([SCORES, LABELS], {DIGITS: batch}),
                           WARMUP_CALLS, calls)))
    return timings


def _import(package: str):
    """onnx or onnxruntime, or an ImportError that says how to install it."""
    try:
        return __import__(package)
    except ImportError as exc:
        raise ImportError(MISSING[package]) from exc
