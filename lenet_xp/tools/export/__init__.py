"""A trained model as an ONNX graph, layer for layer, for ONNX Runtime, Netron and converters.

    >>> import lenet_xp
    >>> from lenet_xp.tools.export import to_onnx
    >>> to_onnx(lenet_xp.load_model("runs/lenet5/model.npz"), "lenet5.onnx")

``scripts/export.py`` does the same from the command line and checks the file in ONNX Runtime.
onnx is an optional dependency (``pip install "lenet_xp[onnx]"``), imported only when a
function needs it; ONNX Runtime only to run the graph (:func:`compare`, :func:`benchmark`).

One concept a module: the graph being built and its names
(:mod:`~lenet_xp.tools.export.graph`), each layer and loss as ONNX operators
(:mod:`~lenet_xp.tools.export.mappings`), the whole model as a checked graph
(:mod:`~lenet_xp.tools.export.build`), the graph read back by layer
(:mod:`~lenet_xp.tools.export.reading`) and drawn (:mod:`~lenet_xp.tools.export.drawing`), and
run in ONNX Runtime (:mod:`~lenet_xp.tools.export.runtime`).

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

from .build import IR_VERSION, OPSET, save, to_onnx
from .drawing import plot_onnx_graph
from .graph import ExportError
from .mappings import MAPPINGS, SCORES_MAPPINGS
from .reading import LayerNodes, layer_nodes
from .runtime import SCORE_TOLERANCE, Agreement, InferenceTiming, benchmark, compare, onnx_session

__all__ = ["IR_VERSION", "MAPPINGS", "OPSET", "SCORES_MAPPINGS", "SCORE_TOLERANCE", "Agreement",
           "ExportError", "InferenceTiming", "LayerNodes", "benchmark", "compare", "layer_nodes",
           "onnx_session", "plot_onnx_graph", "save", "to_onnx"]
