"""An exported graph read back by layer (:func:`layer_nodes`): each layer's ONNX operators,
output shape and weights, for ``scripts/export.py``'s summary and its drawing
(:func:`lenet_xp.tools.export.drawing.plot_onnx_graph`)."""

from __future__ import annotations

import dataclasses

import numpy as np

from .graph import require


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
    float32 = require("onnx").TensorProto.FLOAT
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
