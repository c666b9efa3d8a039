"""A trained model as an ONNX graph (:func:`to_onnx`), from raw uint8 digits through the model's
own preparation and its layers to scores, labels and raw outputs, checked by onnx and written
all or nothing (:func:`save`)."""

from __future__ import annotations

from pathlib import Path

from ..._version import __version__
from ...atomic import atomic_file
from ...data import PixelStats, normalisation_affine
from ...inference import TrainedModel
from .graph import DIGITS, LABELS, OUTPUTS, SCORES, ExportError, Graph, require
from .mappings import SCORES_MAPPINGS, chain, class_names

OPSET = 15
"""The ONNX opset of the graphs: BatchNormalization's ``training_mode`` is there from opset 14
(see :mod:`lenet_xp.tools.export`), and ONNX Runtime reads opset 15 from 1.10 on."""
IR_VERSION = 8
"""The ONNX IR version of opset 15 (ONNX 1.10): the onnx package would stamp its newest one,
which older runtimes refuse."""


def to_onnx(model: TrainedModel, path=None):
    """The ONNX graph (an ``onnx.ModelProto``) of a trained model, from raw uint8 digits to
    scores, labels and raw outputs (see :mod:`lenet_xp.tools.export`). Shapes are inferred (strict)
    and stored in the graph, and ``onnx.checker`` checks it in full; with ``path`` it is also
    written there, all or nothing.

    Raises:
        ExportError: a layer or loss with no ONNX mapping, or a graph that fails onnx's
            checks (nothing is written).
        ImportError: onnx is not installed (``pip install "lenet_xp[onnx]"``).
    """
    onnx = require("onnx")
    graph = Graph(onnx)
    outputs = chain(graph, model.network, _prepare(graph, model.meta["data"]), prefix="")
    scores_mapping = SCORES_MAPPINGS.get(type(model.loss))
    if scores_mapping is None:
        raise ExportError(f"cannot export the class scores of {type(model.loss).__name__}: "
                          f"lenet_xp's ONNX export knows {class_names(SCORES_MAPPINGS)}")
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


def _prepare(graph: Graph, data: dict) -> str:
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
